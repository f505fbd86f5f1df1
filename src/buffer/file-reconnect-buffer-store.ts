import {constants, promises as fs} from 'fs';
import {join} from 'path';
import {ensureDir} from 'fs-extra';
import {isClientId} from '../protocol/client-id';
import {FolderLock} from './folder-lock';
import {BufferLostError} from './reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from './reconnect-buffer-store';

const FILE_SUFFIX = '.ndjson';
const LOCK_FILE = '.owner.json';

const isNotFound = (error: unknown): boolean => (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';

/**
 * One file per client in a folder, one serialised message per line (JSON never contains a raw newline).
 * The file name is the clientId alone and only ever one of our UUIDs, so no request value and no user name
 * reaches a file path. The folder is locked against a second server process using it.
 */
export class FileReconnectBufferStore implements ReconnectBufferStore {

    private constructor(private readonly folder: string, private readonly lock: FolderLock) {
    }

    /** Create the folder if missing and lock it; rejects if that is not possible or another process uses it */
    static async open(folder: string): Promise<FileReconnectBufferStore> {
        await ensureDir(folder);
        const lock = await FolderLock.acquire(folder, join(folder, LOCK_FILE));
        return new FileReconnectBufferStore(folder, lock);
    }

    get description(): string {
        return `folder ${this.folder}`;
    }

    readonly available = true;
    readonly shared = false;

    async open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        // The session lives in the node's memory, and only this node claims: the messages are all there is to keep
        await this.append(clientId, messages, continuing);
    }

    async claim(clientId: string): Promise<ClaimedBuffer> {
        return {messages: await this.readAll(clientId), recorded: null, session: null};
    }

    onClaimedElsewhere(): void {
        // One node: nothing is taken elsewhere
    }

    async append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        if (messages.length === 0) {
            return;
        }
        const file = this.fileOf(clientId);
        const lines = `${messages.join('\n')}\n`;
        if (continuing) {
            // Without O_CREAT: a file deleted from outside must not silently restart with a gap
            let handle: fs.FileHandle;
            try {
                handle = await fs.open(file, constants.O_WRONLY | constants.O_APPEND);
            } catch (error) {
                throw isNotFound(error) ? new BufferLostError(clientId, `${file} is gone`) : error;
            }
            try {
                await handle.appendFile(lines, 'utf8');
            } finally {
                await handle.close();
            }
            return;
        }
        try {
            await fs.appendFile(file, lines, 'utf8');
        } catch (error) {
            if (!isNotFound(error)) {
                throw error;
            }
            // The folder was deleted under us (a tmp cleaner, an operator): recreate it and try once more
            await ensureDir(this.folder);
            await fs.appendFile(file, lines, 'utf8');
        }
    }

    async readAll(clientId: string): Promise<Array<string>> {
        let content: string;
        try {
            content = await fs.readFile(this.fileOf(clientId), 'utf8');
        } catch (error) {
            if (isNotFound(error)) {
                return [];
            }
            throw error;
        }
        return content.split('\n').filter((line) => line !== '');
    }

    async remove(clientId: string): Promise<void> {
        try {
            await fs.unlink(this.fileOf(clientId));
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

    async close(): Promise<void> {
        await this.lock.release();
    }

    private fileOf(clientId: string): string {
        if (!isClientId(clientId)) {
            // Unreachable through the server, which only uses ids it generated; a guard against future callers
            throw new Error(`Refusing to use '${clientId.slice(0, 60)}' as a buffer file name: not a client id`);
        }
        return join(this.folder, `${clientId}${FILE_SUFFIX}`);
    }
}
