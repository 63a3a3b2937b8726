// Connect: the connection form and the saved connections.
import { append, checkbox, field, h, input, page, replace, select } from '../dom';
import type { Connection } from '../connection';
import { diagnose } from '../diagnose';
import { publicListeners } from '../admin';
import { defaultProfile, defaultUrl, deleteProfile, loadProfiles, saveProfile, type Profile } from '../profiles';

export function connectPage(conn: Connection): { element: HTMLElement; defaultUrlChanged(previous: string): void } {
  const f = {
    name: input({ name: 'name', autocomplete: 'off' }),
    url: input({ name: 'url', type: 'url', required: true, spellcheck: 'false', autocomplete: 'off' }),
    clientId: input({ name: 'clientId', spellcheck: 'false', autocomplete: 'off' }),
    username: input({ name: 'username', autocomplete: 'username' }),
    password: input({ name: 'password', type: 'password', autocomplete: 'current-password' }),
    rememberPassword: checkbox(false, { name: 'rememberPassword' }),
    protocol: select([['5', 'MQTT 5.0'], ['4', 'MQTT 3.1.1']], '5', { name: 'protocol' }),
    keepalive: input({ name: 'keepalive', type: 'number', min: 0, max: 65535, inputmode: 'numeric' }),
    clean: checkbox(true, { name: 'clean' }),
    sessionExpiry: input({ name: 'sessionExpiry', type: 'number', min: 0, max: 4294967295, inputmode: 'numeric' }),
    autoReconnect: checkbox(false, { name: 'autoReconnect' }),
    willEnabled: checkbox(false, { name: 'willEnabled' }),
    willTopic: input({ name: 'willTopic', spellcheck: 'false' }),
    willPayload: h('textarea', { name: 'willPayload', rows: 2 }),
    willQos: select([['0', 'QoS 0'], ['1', 'QoS 1'], ['2', 'QoS 2']], '0', { name: 'willQos' }),
    willRetain: checkbox(false, { name: 'willRetain' }),
    willDelay: input({ name: 'willDelay', type: 'number', min: 0, inputmode: 'numeric' }),
  };

  const fill = (p: Profile): void => {
    f.name.value = p.name;
    f.url.value = p.url;
    f.clientId.value = p.clientId;
    f.username.value = p.username;
    f.password.value = p.password;
    f.rememberPassword.checked = p.rememberPassword;
    f.protocol.value = String(p.protocolVersion);
    f.keepalive.value = String(p.keepalive);
    f.clean.checked = p.clean;
    f.sessionExpiry.value = String(p.sessionExpiry);
    f.autoReconnect.checked = p.autoReconnect;
    f.willEnabled.checked = p.will.enabled;
    f.willTopic.value = p.will.topic;
    f.willPayload.value = p.will.payload;
    f.willQos.value = String(p.will.qos);
    f.willRetain.checked = p.will.retain;
    f.willDelay.value = String(p.will.delay);
    syncVersion();
  };

  const read = (): Profile => ({
    name: f.name.value.trim() || 'Unnamed',
    url: f.url.value.trim(),
    clientId: f.clientId.value.trim(),
    username: f.username.value,
    password: f.password.value,
    rememberPassword: f.rememberPassword.checked,
    protocolVersion: f.protocol.value === '4' ? 4 : 5,
    keepalive: Math.max(0, Math.min(65535, Number(f.keepalive.value) || 0)),
    clean: f.clean.checked,
    sessionExpiry: Math.max(0, Number(f.sessionExpiry.value) || 0),
    autoReconnect: f.autoReconnect.checked,
    will: {
      enabled: f.willEnabled.checked,
      topic: f.willTopic.value.trim(),
      payload: f.willPayload.value,
      qos: Number(f.willQos.value) as 0 | 1 | 2,
      retain: f.willRetain.checked,
      delay: Math.max(0, Number(f.willDelay.value) || 0),
    },
  });

  // MQTT 5-only settings are disabled (not hidden) under 3.1.1, so the form does not jump around.
  const v5Only = [f.sessionExpiry, f.willDelay];
  function syncVersion(): void {
    const v5 = f.protocol.value === '5';
    for (const el of v5Only) el.disabled = !v5;
    cleanLabel.textContent = v5 ? 'Clean start' : 'Clean session';
    for (const el of [f.willTopic, f.willPayload, f.willQos, f.willRetain]) el.disabled = !f.willEnabled.checked;
    f.willDelay.disabled = !v5 || !f.willEnabled.checked;
  }
  f.protocol.addEventListener('change', syncVersion);
  f.willEnabled.addEventListener('change', syncVersion);

  const message = h('p', { class: 'form-message', role: 'alert' });
  const savedList = h('ul', { class: 'saved-list' });
  const renderSaved = (list: Profile[]): void => {
    if (list.length === 0) {
      replace(savedList, h('li', { class: 'muted' }, 'No saved connections yet.'));
      return;
    }
    replace(
      savedList,
      ...list.map((p) =>
        h(
          'li',
          {},
          h('span', { class: 'saved-name' }, p.name),
          h('span', { class: 'saved-url muted' }, p.url),
          h('button', { type: 'button', class: 'small', 'aria-label': `Load connection ${p.name}`, onclick: () => fill(p) }, 'Load'),
          h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete connection ${p.name}`, onclick: () => renderSaved(deleteProfile(p.name)) }, 'Delete'),
        ),
      ),
    );
  };

  const connectBtn = h('button', { type: 'submit', class: 'primary' }, 'Connect');
  const disconnectBtn = h('button', { type: 'button', onclick: () => conn.disconnect() }, 'Disconnect');
  const saveBtn = h('button', {
    type: 'button',
    onclick: () => {
      const p = read();
      renderSaved(saveProfile(p));
      message.textContent = `Saved “${p.name}”.`;
    },
  }, 'Save connection');

  const cleanField = field('Clean start', f.clean, 'Start a new session instead of resuming one.');
  const cleanLabel = cleanField.querySelector('label')!;

  const form = h(
    'form',
    {
      class: 'card form-grid',
      'aria-label': 'Connection settings',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const p = read();
        if (!/^wss?:\/\//i.test(p.url)) {
          message.textContent = 'The URL must start with ws:// or wss://';
          f.url.focus();
          return;
        }
        message.textContent = '';
        conn.connect(p);
      },
    },
    field('Connection name', f.name),
    field('Broker URL', f.url, 'WebSocket URL, e.g. ws://host:8083/mqtt'),
    field('Client ID', f.clientId),
    field('Protocol', f.protocol),
    field('User name', f.username),
    field('Password', f.password),
    field('Remember password in this browser', f.rememberPassword),
    field('Keepalive (seconds)', f.keepalive),
    cleanField,
    field('Session expiry (seconds, MQTT 5)', f.sessionExpiry, '0 ends the session with the connection.'),
    field('Reconnect automatically', f.autoReconnect),
    h(
      'fieldset',
      { class: 'wide' },
      h('legend', {}, 'Will message'),
      field('Send a will message', f.willEnabled),
      field('Will topic', f.willTopic),
      field('Will payload', f.willPayload),
      field('Will QoS', f.willQos),
      field('Retain the will', f.willRetain),
      field('Will delay (seconds, MQTT 5)', f.willDelay),
    ),
    h('div', { class: 'actions wide' }, connectBtn, disconnectBtn, saveBtn),
    message,
  );

  // Why the last attempt failed, in words, with a URL from the broker's listener list to try.
  const diagnosis = h('div', { class: 'card diagnosis', role: 'alert', hidden: true });
  let diagnosing = 0;
  conn.onStatus(() => {
    if (conn.status !== 'disconnected' || !conn.transportFailed || !conn.profile) {
      if (conn.status === 'connected' || conn.status === 'connecting') diagnosis.hidden = true;
      return;
    }
    const url = conn.profile.url;
    const ticket = ++diagnosing;
    void publicListeners()
      .catch(() => [])
      .then((ls) => diagnose(url, ls.map((l) => l.url), location))
      .then((d) => {
        if (ticket !== diagnosing) return;
        replace(diagnosis,
          h('h3', {}, `Could not connect to ${url}`),
          h('p', { class: 'diagnosis-why' }, d.why),
          d.suggest && d.suggest !== url
            ? h('p', {}, 'Try ', h('code', {}, d.suggest), ' ', h('button', {
              type: 'button',
              class: 'small',
              onclick: () => {
                f.url.value = d.suggest!;
                diagnosis.hidden = true;
                f.url.focus();
              },
            }, 'Use this URL'))
            : null);
        diagnosis.hidden = false;
      });
  });

  const syncButtons = (): void => {
    const busy = conn.status === 'connected' || conn.status === 'connecting' || conn.status === 'reconnecting';
    disconnectBtn.disabled = !busy;
    connectBtn.textContent = busy ? 'Reconnect' : 'Connect';
  };
  conn.onStatus(syncButtons);

  const profiles = loadProfiles();
  // A fresh form always points at the listener that served this page; saved ones are a click away.
  fill(defaultProfile());
  renderSaved(profiles);
  syncButtons();

  const section = page('connect', 'Connect');
  append(section, diagnosis, form, h('section', { class: 'card', 'aria-labelledby': 'saved-title' }, h('h3', { id: 'saved-title' }, 'Saved connections'), savedList));
  return {
    element: section,
    // The broker told us its endpoint path: follow it unless the user already typed another URL.
    defaultUrlChanged(previous: string) {
      if (f.url.value === previous) f.url.value = defaultUrl();
    },
  };
}
