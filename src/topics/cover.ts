// Relations between two topic filters (a topic name is a filter without wildcards), used by the
// ACL to decide a SUBSCRIBE, by the packet trace and by the cluster's shared-group consumers:
//  - `covers(rule, filter)`: every topic name the filter matches is also matched by the rule, so a
//    subscription may be granted by a `read` rule without ever delivering a message the rule does
//    not allow;
//  - `overlaps(a, b)`: some topic name is matched by both, so a `deny` rule that overlaps a
//    subscription would be breached by it.
// Matching rules are those of [MQTT-4.7]: `+` is one level (possibly empty), `#` is the rest
// including the parent level, and topics starting with `$` are not matched by a leading wildcard
// [MQTT-4.7.2-1]. Both functions err on the safe side where the exact answer is costly: `covers`
// may say no to a filter that a union of rules would cover, `overlaps` is exact.

const isWild = (level: string): boolean => level === '+' || level === '#';
const isDollar = (level: string): boolean => level.charCodeAt(0) === 0x24;

/** True when every topic name matched by `filter` is matched by `rule`. */
export function covers(rule: string, filter: string): boolean {
  const r = rule.split('/');
  const f = filter.split('/');
  // Topic names starting with `$` are only matched by a rule whose first level is that literal.
  if (isDollar(f[0]) && isWild(r[0])) return false;
  for (let i = 0; ; i++) {
    if (i === r.length) return i === f.length; // the rule ends: the filter must end too
    if (r[i] === '#') return true; // the rest of the filter, whatever it is (and its parent level)
    if (i === f.length) return false; // the filter ends (it matches this exact depth), the rule needs more
    if (f[i] === '#') return false; // the filter reaches any depth, the rule does not
    if (f[i] === '+') {
      if (r[i] !== '+') return false; // any level value vs. one literal
      continue;
    }
    if (r[i] !== '+' && r[i] !== f[i]) return false;
  }
}

/** True when some topic name is matched by both filters. */
export function overlaps(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  // A `$` topic needs a literal `$` first level on both sides; a wildcard there never matches it.
  if ((isDollar(x[0]) && isWild(y[0])) || (isDollar(y[0]) && isWild(x[0]))) return false;
  for (let i = 0; ; i++) {
    const xe = i === x.length;
    const ye = i === y.length;
    if (xe && ye) return true;
    // One filter ended at this depth: the other still matches that topic only through a `#` here.
    if (xe) return y[i] === '#';
    if (ye) return x[i] === '#';
    if (x[i] === '#' || y[i] === '#') return true;
    if (x[i] === '+' || y[i] === '+') continue;
    if (x[i] !== y[i]) return false;
  }
}
