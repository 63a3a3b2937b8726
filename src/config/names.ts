// How a config key is spelled as an environment variable and as a CLI flag. Derived, never typed
// by hand, so the three spellings cannot drift apart.

export const ENV_PREFIX = 'STARLING_';

const words = (key: string): string[] => key.split(/(?=[A-Z])/).map((w) => w.toLowerCase());

/** `mqttTlsKeyFilePath` → `STARLING_MQTT_TLS_KEY_FILE_PATH`. */
export const envName = (key: string): string => ENV_PREFIX + words(key).join('_').toUpperCase();

/** `mqttTlsKeyFilePath` → `--mqtt-tls-key-file-path` (commander turns it back into the key). */
export const flagName = (key: string): string => '--' + words(key).join('-');

/** `--mqtt-tls-key-file-path` or `mqtt-tls-key-file-path` → `mqttTlsKeyFilePath`. */
export const keyFromFlag = (flag: string): string =>
  flag.replace(/^--?/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
