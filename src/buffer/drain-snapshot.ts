import {createHash} from 'crypto';
import {promises as fs} from 'fs';
import {dirname} from 'path';
import {isClientId} from '../protocol/client-id';
import type {BufferedSession, SealedClient} from './reconnect-buffer-store';

/*
 * The clients a drain leaves to the next process, in one file (docs/ARCHITECTURE.md, "Shutdown"):
 *   {"format":"mashroom-websocket-drain","version":1,"storedAt":<ms>,"clients":<n>}
 *   per client: {"clientId":…,"session":{…},"deadline":<ms>,"frames":<k>,"sha256":<of its k frames, joined by \n>}
 *               then its k frames, one per line
 *   {"end":true,"sha256":<of every byte before this line>}
 * Written to a temporary file, synced, renamed and the folder synced: the next process finds all of it or none.
 */

const FORMAT = 'mashroom-websocket-drain';
const VERSION = 1;
const WRITE_BLOCK_CHARS = 1 << 20;

export type SnapshotEntry = SealedClient & {readonly frames: ReadonlyArray<string>};

export type SnapshotRead =
    | {readonly kind: 'none'}
    | {readonly kind: 'read'; readonly storedAt: number; readonly entries: ReadonlyArray<SnapshotEntry>}
    | {readonly kind: 'invalid'; readonly problem: string};

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

export const writeSnapshot = async (file: string, entries: ReadonlyArray<SnapshotEntry>, storedAt: number): Promise<void> => {
    const whole = createHash('sha256');
    const temporary = `${file}.tmp`;
    const handle = await fs.open(temporary, 'w');
    try {
        // A write per client made a drain of thousands wait for thousands of round trips to the thread pool
        let pending: Array<string> = [];
        let pendingLength = 0;
        const flush = async (): Promise<void> => {
            const text = pending.join('');
            pending = [];
            pendingLength = 0;
            whole.update(text, 'utf8');
            await handle.write(text);
        };
        const write = async (text: string): Promise<void> => {
            pending.push(text);
            pendingLength += text.length;
            if (pendingLength >= WRITE_BLOCK_CHARS) {
                await flush();
            }
        };
        await write(`${JSON.stringify({format: FORMAT, version: VERSION, storedAt, clients: entries.length})}\n`);
        for (const {clientId, session, deadline, frames} of entries) {
            const header = {clientId, session, deadline, frames: frames.length, sha256: sha256(frames.join('\n'))};
            await write(`${JSON.stringify(header)}\n${frames.map((frame) => `${frame}\n`).join('')}`);
        }
        await flush();
        await handle.write(`${JSON.stringify({end: true, sha256: whole.digest('hex')})}\n`);
        await handle.sync();
    } finally {
        await handle.close();
    }
    await fs.rename(temporary, file);
    const folder = await fs.open(dirname(file), 'r');
    try {
        await folder.sync();
    } finally {
        await folder.close();
    }
};

/** The snapshot, verified whole: a file cut short, garbled or of another format is invalid, and none of it is used */
export const readSnapshot = async (file: string): Promise<SnapshotRead> => {
    let content: string;
    try {
        content = await fs.readFile(file, 'utf8');
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            return {kind: 'none'};
        }
        throw error;
    }
    const invalid = (problem: string): SnapshotRead => ({kind: 'invalid', problem});
    if (!content.endsWith('\n')) {
        return invalid('it does not end with a complete line (cut short?)');
    }
    const lastLine = content.lastIndexOf('\n', content.length - 2) + 1;
    const body = content.slice(0, lastLine);
    const end = parse(content.slice(lastLine, -1)) as {end?: unknown; sha256?: unknown} | null;
    if (end?.end !== true || end.sha256 !== sha256(body)) {
        return invalid('its checksum does not match (cut short or changed)');
    }
    const lines = body.split('\n');
    lines.pop();
    const header = parse(lines[0]) as {format?: unknown; version?: unknown; storedAt?: unknown; clients?: unknown} | null;
    if (header?.format !== FORMAT || header.version !== VERSION || typeof header.storedAt !== 'number' || typeof header.clients !== 'number') {
        return invalid('it is not a drain snapshot of a version this plugin reads');
    }
    const entries: Array<SnapshotEntry> = [];
    let at = 1;
    while (at < lines.length) {
        const entry = entryOf(parse(lines[at]));
        if (!entry) {
            return invalid(`line ${at + 1} is not a client`);
        }
        const frames = lines.slice(at + 1, at + 1 + entry.frames);
        if (frames.length !== entry.frames || sha256(frames.join('\n')) !== entry.sha256) {
            return invalid(`the buffer of client ${entry.clientId} does not match its checksum`);
        }
        entries.push({clientId: entry.clientId, session: entry.session, deadline: entry.deadline, frames});
        at += 1 + entry.frames;
    }
    if (entries.length !== header.clients) {
        return invalid(`${entries.length} client(s) found, ${String(header.clients)} stored`);
    }
    return {kind: 'read', storedAt: header.storedAt, entries};
};

const parse = (line: string | undefined): unknown => {
    try {
        return line === undefined ? null : JSON.parse(line) as unknown;
    } catch {
        return null;
    }
};

type EntryHeader = {clientId: string; session: BufferedSession; deadline: number; frames: number; sha256: string};

const entryOf = (value: unknown): EntryHeader | null => {
    const entry = value as Partial<EntryHeader> | null;
    const session = entry?.session as Partial<BufferedSession> | undefined;
    const valid = typeof entry?.clientId === 'string' && isClientId(entry.clientId) &&
        typeof entry.deadline === 'number' && Number.isSafeInteger(entry.frames) && (entry.frames ?? -1) >= 0 &&
        typeof entry.sha256 === 'string' && typeof session?.username === 'string' && typeof session.connectPath === 'string' &&
        typeof session.sequenced === 'boolean' && Number.isSafeInteger(session.lastSeq);
    return valid ? entry as EntryHeader : null;
};
