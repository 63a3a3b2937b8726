// Subscribe: add subscriptions with QoS and MQTT 5 options; list and remove them.
import { append, checkbox, field, h, input, page, replace, select } from '../dom';
import { reasonText, type Connection, type SubscribeOptions } from '../connection';
import { filterProblem } from '../topics';

export interface ActiveSubscription extends SubscribeOptions {
  filter: string;
  granted: number;
}

/** The user's subscriptions, shared with the message log (which shows only what they asked for). */
export class Subscriptions {
  readonly list = new Map<string, ActiveSubscription>();
  private readonly listeners = new Set<() => void>();
  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }
  changed(): void {
    for (const fn of this.listeners) fn();
  }
}

export function subscribePage(conn: Connection, subs: Subscriptions): HTMLElement {
  const filter = input({ name: 'filter', required: true, spellcheck: 'false', autocomplete: 'off', placeholder: 'sensors/#' });
  const qos = select([['0', 'QoS 0'], ['1', 'QoS 1'], ['2', 'QoS 2']], '0', { name: 'qos' });
  const noLocal = checkbox(false, { name: 'noLocal' });
  const rap = checkbox(false, { name: 'retainAsPublished' });
  const rh = select([['0', 'Send retained on subscribe'], ['1', 'Only for a new subscription'], ['2', 'Never send retained']], '0', { name: 'retainHandling' });
  const subId = input({ name: 'subscriptionId', type: 'number', min: 1, max: 268435455, inputmode: 'numeric' });
  const message = h('p', { class: 'form-message', role: 'alert' });
  const v5fields = [noLocal, rap, rh, subId];

  const syncVersion = (): void => {
    for (const el of v5fields) el.disabled = conn.version !== 5;
  };

  const table = h('tbody');
  const render = (): void => {
    if (subs.list.size === 0) {
      replace(table, h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No subscriptions.')));
      return;
    }
    replace(
      table,
      ...[...subs.list.values()].map((s) =>
        h(
          'tr',
          {},
          h('td', { class: 'mono' }, s.filter),
          h('td', {}, s.granted >= 0x80 ? `refused: ${reasonText(s.granted)}` : `QoS ${s.granted}`),
          h('td', {}, [s.noLocal && 'no local', s.retainAsPublished && 'retain as published', s.retainHandling ? `retain handling ${s.retainHandling}` : '', s.subscriptionId ? `id ${s.subscriptionId}` : ''].filter(Boolean).join(', ') || '—'),
          h('td', {}, h('button', {
            type: 'button',
            class: 'small',
            'aria-label': `Unsubscribe from ${s.filter}`,
            onclick: async () => {
              try {
                if (conn.status === 'connected') await conn.unsubscribe(s.filter);
                subs.list.delete(s.filter);
                subs.changed();
                message.textContent = `Unsubscribed from ${s.filter}.`;
              } catch (err) {
                message.textContent = `Unsubscribe failed: ${(err as Error).message}`;
              }
            },
          }, 'Unsubscribe')),
        ),
      ),
    );
  };
  subs.onChange(render);
  conn.onStatus(() => {
    syncVersion();
    // A new session (not resumed) has none of the old subscriptions [MQTT-3.1.2-4].
    if (conn.status === 'connected' && !conn.sessionPresent && subs.list.size > 0) {
      subs.list.clear();
      subs.changed();
    }
  });

  const form = h(
    'form',
    {
      class: 'card form-grid',
      'aria-label': 'New subscription',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const problem = filterProblem(filter.value);
        if (problem) {
          message.textContent = problem;
          filter.focus();
          return;
        }
        const o: SubscribeOptions = { qos: Number(qos.value) as 0 | 1 | 2 };
        if (conn.version === 5) {
          o.noLocal = noLocal.checked;
          o.retainAsPublished = rap.checked;
          o.retainHandling = Number(rh.value) as 0 | 1 | 2;
          if (Number(subId.value) > 0) o.subscriptionId = Number(subId.value);
        }
        try {
          const granted = await conn.subscribe(filter.value, o);
          subs.list.set(filter.value, { filter: filter.value, granted, ...o });
          subs.changed();
          message.textContent = granted >= 0x80 ? `The broker refused ${filter.value}: ${reasonText(granted)}` : `Subscribed to ${filter.value} (QoS ${granted}).`;
        } catch (err) {
          message.textContent = `Subscribe failed: ${(err as Error).message}`;
        }
      },
    },
    field('Topic filter', filter, 'Wildcards: + for one level, # for the rest.'),
    field('QoS', qos),
    field('No local (MQTT 5)', noLocal, 'Do not receive my own messages.'),
    field('Retain as published (MQTT 5)', rap),
    field('Retain handling (MQTT 5)', rh),
    field('Subscription identifier (MQTT 5)', subId),
    h('div', { class: 'actions wide' }, h('button', { type: 'submit', class: 'primary' }, 'Subscribe')),
    message,
  );

  syncVersion();
  render();
  const section = page('subscribe', 'Subscribe');
  append(
    section,
    form,
    h('div', { class: 'card table-wrap' }, h('table', {}, h('caption', {}, 'Active subscriptions'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Filter'), h('th', { scope: 'col' }, 'Granted'), h('th', { scope: 'col' }, 'Options'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      table)),
  );
  return section;
}
