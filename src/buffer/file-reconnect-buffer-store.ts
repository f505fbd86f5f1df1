import {
    appendFile as appendFileCallback, close as closeCallback, constants, open as openCallback, promises as fs,
    readFile as readFileCallback, unlink as unlinkCallback,
} from 'fs';
import {join} from 'path';
import {promisify} from 'util';
import {ensureDir} from 'fs-extra';
import {isClientId} from '../protocol/client-id';
import {decodeRecords, encodeRecord} from './buffer-record';
import {readSnapshot, writeSnapshot} from './drain-snapshot';
import type {SnapshotEntry} from './drain-snapshot';
import {FolderLock} from './folder-lock';
import {BufferLostError} from './reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore, SealedClient} from './reconnect-buffer-store';

const FILE_SUFFIX = '.ndjson';
const LOCK_FILE = '.owner.json';
const DRAIN_FILE = '.drained.ndjson';
const SEAL_READS_IN_FLIGHT = 32;
// The calls of a resume and of every drop: with Node 20 the promise API of fs takes about twice the CPU time of the
// callback API for these small files (5000 reads: 230-370 ms against 470-690 ms), and a reconnect storm is made of them
const readFile = promisify(readFileCallback);
const appendFile = promisify(appendFileCallback);
const unlink = promisify(unlinkCallback);
const open = promisify(openCallback);
const close = promisify(closeCallback);
/** Each message as a verifiable record (see buffer-record), one per line */
const toLines = (messages: ReadonlyArray<string>): string => messages.map((message) => `${encodeRecord(message)}\n`).join('');
/** Append to a file that must exist: one deleted from outside must not silently restart with a gap */
const APPEND_EXISTING = constants.O_WRONLY | constants.O_APPEND;

/** A client an earlier process drained into the folder, waiting here to be claimed by a resume */
type Restored = {
    readonly session: BufferedSession;
    readonly deadline: number;
    /** Frames in its file when it was restored */
    readonly count: number;
    readonly timer: NodeJS.Timeout;
};

/** What `restore` found */
export type RestoreReport = {
    readonly restored: number;
    /** Drained clients whose window had passed */
    readonly expired: number;
    /** Why a drain snapshot was not used, if one was there and could not be */
    readonly problem: string | null;
};

const isNotFound = (error: unknown): boolean => (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';

/**
 * One file per client in a folder, one serialised message per line (JSON never contains a raw newline).
 * The file name is the clientId alone and only ever one of our UUIDs, so no request value and no user name
 * reaches a file path. The folder is locked against a second server process using it.
 */
export class FileReconnectBufferStore implements ReconnectBufferStore {

    readonly #restored = new Map<string, Restored>();
    #lastRestore: RestoreReport | null = null;

    private constructor(private readonly folder: string, private readonly lock: FolderLock) {
    }

    /**
     * Create the folder if missing and lock it; rejects if that is not possible or another process uses it (or an
     * earlier instance of this one, unless `takeOverThisProcess`)
     */
    static async open(folder: string, takeOverThisProcess = false): Promise<FileReconnectBufferStore> {
        await ensureDir(folder);
        const lock = await FolderLock.acquire(folder, join(folder, LOCK_FILE), takeOverThisProcess);
        return new FileReconnectBufferStore(folder, lock);
    }

    get description(): string {
        return `folder ${this.folder}`;
    }

    readonly available = true;

    async open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        // The session lives in the node's memory, and only this node claims: the messages are all there is to keep
        await this.append(clientId, messages, continuing);
    }

    mayHold(clientId: string): boolean {
        return this.#restored.has(clientId);
    }

    async waits(clientId: string, claimant: Pick<BufferedSession, 'username' | 'connectPath'>): Promise<boolean> {
        const session = this.#restored.get(clientId)?.session;
        return session !== undefined && session.username === claimant.username && session.connectPath === claimant.connectPath;
    }

    /**
     * A client this process knows: its buffer as it is. One an earlier process drained: only for a claimant of the
     * same session (null otherwise), and the count it was restored with must still be there.
     */
    async claim(clientId: string, claimant?: BufferedSession): Promise<ClaimedBuffer | null> {
        const restored = this.#restored.get(clientId);
        if (!restored) {
            return {messages: await this.readAll(clientId), recorded: null, session: null};
        }
        const {session} = restored;
        if (!claimant || claimant.username !== session.username || claimant.connectPath !== session.connectPath || claimant.sequenced !== session.sequenced) {
            return null;
        }
        this.forget(clientId);
        return {messages: await this.readAll(clientId), recorded: restored.count, session};
    }

    onClaimedElsewhere(): void {
        // One node: nothing is taken elsewhere
    }

    async append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        if (messages.length === 0) {
            return;
        }
        const file = this.fileOf(clientId);
        const lines = toLines(messages);
        if (continuing) {
            let fd: number;
            try {
                fd = await open(file, APPEND_EXISTING);
            } catch (error) {
                throw isNotFound(error) ? new BufferLostError(clientId, `${file} is gone`) : error;
            }
            try {
                await appendFile(fd, lines, 'utf8');
            } finally {
                await close(fd);
            }
            return;
        }
        try {
            await appendFile(file, lines, 'utf8');
        } catch (error) {
            if (!isNotFound(error)) {
                throw error;
            }
            // The folder was deleted under us (a tmp cleaner, an operator): recreate it and try once more
            await ensureDir(this.folder);
            await appendFile(file, lines, 'utf8');
        }
    }

    /** The buffered messages, verified: rejects with BufferLostError if any record is cut short or changed */
    async readAll(clientId: string): Promise<Array<string>> {
        const file = this.fileOf(clientId);
        let content: string;
        try {
            content = await readFile(file, 'utf8');
        } catch (error) {
            if (isNotFound(error)) {
                return [];
            }
            throw error;
        }
        const messages = decodeRecords(content.split('\n').filter((line) => line !== ''));
        if (!messages) {
            throw new BufferLostError(clientId, `${file} holds a message that does not verify (cut short or changed)`);
        }
        return messages;
    }

    async remove(clientId: string): Promise<void> {
        try {
            await unlink(this.fileOf(clientId));
        } catch (error) {
            if (!isNotFound(error)) {
                throw error;
            }
        }
    }

    async clear(): Promise<void> {
        let names: Array<string>;
        try {
            names = await fs.readdir(this.folder);
        } catch (error) {
            if (isNotFound(error)) {
                return;
            }
            throw error;
        }
        const ours = names.filter((name) => name.endsWith(FILE_SUFFIX) && isClientId(name.slice(0, -FILE_SUFFIX.length)));
        await Promise.all(ours.map((name) => fs.unlink(join(this.folder, name)).catch((error: unknown) => {
            if (!isNotFound(error)) {
                throw error;
            }
        })));
    }

    /** The report of the last `restore` */
    get lastRestore(): RestoreReport | null {
        return this.#lastRestore;
    }

    async restore(): Promise<number> {
        const snapshotFile = join(this.folder, DRAIN_FILE);
        const snapshot = await readSnapshot(snapshotFile);
        const now = Date.now();
        const entries = snapshot.kind === 'read' ? snapshot.entries : [];
        const live = entries.filter((entry) => entry.deadline > now);
        await this.clear();
        for (const {clientId, session, deadline, frames} of live) {
            if (frames.length > 0) {
                await fs.writeFile(this.fileOf(clientId), toLines(frames), 'utf8');
            }
            const timer = setTimeout(() => {
                this.forget(clientId);
                this.remove(clientId).catch(() => undefined);
            }, deadline - now);
            timer.unref();
            this.#restored.set(clientId, {session, deadline, count: frames.length, timer});
        }
        // Only now: a process that stops before this point finds the snapshot again
        await fs.rm(snapshotFile, {force: true});
        this.#lastRestore = {restored: live.length, expired: entries.length - live.length, problem: snapshot.kind === 'invalid' ? snapshot.problem : null};
        return live.length;
    }

    async seal(clients: ReadonlyArray<SealedClient>, deadline: number): Promise<ReadonlyArray<string>> {
        if (!await this.lock.held()) {
            // A later instance took the folder over: what is there is its business now
            throw new Error(`the folder ${this.folder} was taken over by another instance`);
        }
        const draining = new Set(clients.map(({clientId}) => clientId));
        // Those restored from an earlier drain that nobody resumed yet wait on
        const waitingOn = [...this.#restored].filter(([clientId]) => !draining.has(clientId))
            .map(([clientId, {session, deadline: own}]): SealedClient => ({clientId, session, deadline: own}));
        const all = [...clients, ...waitingOn];
        const read: Array<SnapshotEntry | undefined> = new Array<SnapshotEntry | undefined>(all.length);
        // Read one file at a time and a drain of thousands takes seconds; the thread pool takes a few at once
        let next = 0;
        await Promise.all(Array.from({length: Math.min(SEAL_READS_IN_FLIGHT, all.length)}, async () => {
            while (next < all.length && Date.now() < deadline) {
                const index = next++;
                // A buffer that does not verify is not handed on; the others are
                const frames = await this.readAll(all[index].clientId).catch(() => null);
                read[index] = frames ? {...all[index], frames} : undefined;
            }
        }));
        const entries = read.filter((entry): entry is SnapshotEntry => entry !== undefined);
        if (entries.length > 0) {
            await writeSnapshot(join(this.folder, DRAIN_FILE), entries, Date.now());
        }
        // Now, not at close: the process may end as soon as the connections are closed (Mashroom exits then), and a
        // reloaded instance of the plugin waits for the folder
        await this.lock.release();
        return read.slice(0, clients.length).flatMap((entry) => (entry ? [entry.clientId] : []));
    }

    async close(): Promise<void> {
        for (const clientId of [...this.#restored.keys()]) {
            this.forget(clientId);
        }
        await this.lock.release();
    }

    private forget(clientId: string): void {
        const restored = this.#restored.get(clientId);
        if (restored) {
            clearTimeout(restored.timer);
            this.#restored.delete(clientId);
        }
    }

    private fileOf(clientId: string): string {
        if (!isClientId(clientId)) {
            // Unreachable through the server, which only uses ids it generated; a guard against future callers
            throw new Error(`Refusing to use '${clientId.slice(0, 60)}' as a buffer file name: not a client id`);
        }
        return join(this.folder, `${clientId}${FILE_SUFFIX}`);
    }
}
