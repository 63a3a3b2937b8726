// One broker per store, without locking readers out of the database: an exclusive lock on a small
// companion file, `<db>.lock`, held for as long as the store is open. The database itself then runs
// in WAL mode with normal locking, so `starling backup` can read a consistent snapshot from another
// process while the broker writes. The lock is SQLite's own file lock, so the operating system
// releases it when the process dies, however it dies: no stale lock file to clean up.
import Database from 'better-sqlite3';

export const lockPath = (dbPath: string): string => `${dbPath}.lock`;

/**
 * Takes the store's lock or throws (SQLITE_BUSY after `timeoutMs` when another process holds it).
 * Closing the returned connection releases the lock.
 */
export function lockStore(dbPath: string, timeoutMs = 250): Database.Database {
  const lock = new Database(lockPath(dbPath), { timeout: timeoutMs });
  try {
    // EXCLUSIVE locking mode keeps the lock of the first write until the connection closes.
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL)');
    lock.exec('DELETE FROM holder');
    lock.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
    lock.exec('COMMIT');
    return lock;
  } catch (err) {
    lock.close();
    throw err;
  }
}
