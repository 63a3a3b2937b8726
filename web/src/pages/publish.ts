// Publish: topic, QoS, retain, payload in a chosen format, and MQTT 5 properties.
import { append, checkbox, field, h, input, page, select } from '../dom';
import type { Connection, PublishProperties } from '../connection';
import { encodePayload, type PayloadFormat } from '../payload';
import { topicProblem } from '../topics';

/** Parses "key=value" lines into MQTT.js's user properties (a key may repeat). */
export function parseUserProperties(text: string): Record<string, string | string[]> | undefined {
  const out: Record<string, string | string[]> = {};
  let any = false;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`user property "${line.trim()}" must be key=value`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    any = true;
  }
  return any ? out : undefined;
}

export function publishPage(conn: Connection): HTMLElement {
  const topic = input({ name: 'topic', required: true, spellcheck: 'false', autocomplete: 'off', placeholder: 'sensors/kitchen/temperature' });
  const qos = select([['0', 'QoS 0'], ['1', 'QoS 1'], ['2', 'QoS 2']], '0', { name: 'qos' });
  const retain = checkbox(false, { name: 'retain' });
  const format = select([['text', 'Text'], ['json', 'JSON'], ['hex', 'Hex'], ['base64', 'Base64']], 'text', { name: 'format' });
  const payload = h('textarea', { name: 'payload', rows: 6, spellcheck: 'false' });
  const contentType = input({ name: 'contentType', placeholder: 'application/json' });
  const utf8 = checkbox(false, { name: 'payloadFormatIndicator' });
  const expiry = input({ name: 'messageExpiry', type: 'number', min: 0, inputmode: 'numeric' });
  const responseTopic = input({ name: 'responseTopic', spellcheck: 'false' });
  const correlation = input({ name: 'correlationData', spellcheck: 'false' });
  const userProps = h('textarea', { name: 'userProperties', rows: 3, spellcheck: 'false', placeholder: 'key=value' });
  const message = h('p', { class: 'form-message', role: 'alert' });
  const v5fields = [contentType, utf8, expiry, responseTopic, correlation, userProps];

  conn.onStatus(() => {
    for (const el of v5fields) el.disabled = conn.version !== 5;
  });

  const prettify = h('button', {
    type: 'button',
    onclick: () => {
      try {
        payload.value = JSON.stringify(JSON.parse(payload.value), null, 2);
        message.textContent = '';
      } catch (err) {
        message.textContent = `Not valid JSON: ${(err as Error).message}`;
      }
    },
  }, 'Format JSON');
  format.addEventListener('change', () => {
    prettify.hidden = format.value !== 'json';
    if (format.value === 'json' && !contentType.value) contentType.placeholder = 'application/json';
  });
  prettify.hidden = true;

  const form = h(
    'form',
    {
      class: 'card form-grid',
      'aria-label': 'Message to publish',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const problem = topicProblem(topic.value);
        if (problem) {
          message.textContent = problem;
          topic.focus();
          return;
        }
        let bytes: Uint8Array;
        let props: PublishProperties | undefined;
        try {
          bytes = encodePayload(format.value as PayloadFormat, payload.value);
          if (conn.version === 5) {
            props = {};
            if (contentType.value) props.contentType = contentType.value;
            if (utf8.checked) props.payloadFormatIndicator = true;
            if (Number(expiry.value) > 0) props.messageExpiryInterval = Number(expiry.value);
            if (responseTopic.value) props.responseTopic = responseTopic.value;
            if (correlation.value) props.correlationData = new TextEncoder().encode(correlation.value);
            const up = parseUserProperties(userProps.value);
            if (up) props.userProperties = up;
          }
        } catch (err) {
          message.textContent = `Cannot publish: ${(err as Error).message}`;
          return;
        }
        try {
          await conn.publish(topic.value, bytes, Number(qos.value) as 0 | 1 | 2, retain.checked, props);
          message.textContent = `Published ${bytes.length} bytes to ${topic.value}${retain.checked ? ' (retained)' : ''}.`;
        } catch (err) {
          message.textContent = `Publish failed: ${(err as Error).message}`;
        }
      },
    },
    field('Topic', topic),
    field('QoS', qos),
    field('Retain', retain),
    field('Payload format', format),
    h('div', { class: 'wide' }, field('Payload', payload), prettify),
    h(
      'fieldset',
      { class: 'wide' },
      h('legend', {}, 'MQTT 5 properties'),
      field('Content type', contentType),
      field('Payload is UTF-8 (format indicator)', utf8),
      field('Message expiry (seconds)', expiry),
      field('Response topic', responseTopic),
      field('Correlation data (text)', correlation),
      field('User properties', userProps, 'One key=value per line.'),
    ),
    h('div', { class: 'actions wide' }, h('button', { type: 'submit', class: 'primary' }, 'Publish')),
    message,
  );
  const section = page('publish', 'Publish');
  append(section, form);
  return section;
}
