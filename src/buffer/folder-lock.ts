import {randomUUID} from 'crypto';
import {promises as fs} from 'fs';
import {hostname} from 'os';

type Owner = {
    readonly pid: number;
    readonly hostname: string;
    readonly token: string;
};

export class FolderInUseError extends Error {
    /** Whether the process that uses it runs on this host (a process of this host that is stopping lets it go) */
    readonly sameHost: boolean;
    /** Whether it is this very process: an instance of the plugin before a reload, which lets it go once drained */
    readonly sameProcess: boolean;

    constructor(folder: string, owner: Owner) {
        super(`The folder ${folder} is in use by process ${owner.pid} on ${owner.hostname}: give every server process its own folder` +
            ' (e.g. with ${env.NODE_APP_INSTANCE} in the path under PM2), or delete the file .owner.json there if that process is gone');
        this.name = 'FolderInUseError';
        this.sameHost = owner.hostname === hostname();
        this.sameProcess = this.sameHost && owner.pid === process.pid;
    }
}

const isAlive = (pid: number): boolean => {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        // EPERM: it exists but belongs to someone else
        return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
};

const readOwner = async (file: string): Promise<Owner | null> => {
    try {
        const owner = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<Owner>;
        return typeof owner.pid === 'number' && typeof owner.hostname === 'string' && typeof owner.token === 'string' ? owner as Owner : null;
    } catch {
        return null;
    }
};

/**
 * Marks a folder as used by this process, so that two server processes configured with the same folder
 * (a PM2 cluster, two nodes on a shared volume) do not delete each other's buffers at start. A lock of a
 * process that is gone (same host, pid no longer running) is taken over; one of this very process (the instance
 * before a plugin reload, still draining) only when asked to; a lock of a process on another host cannot be
 * checked and is respected.
 */
export class FolderLock {

    private constructor(private readonly file: string, private readonly token: string) {
    }

    static async acquire(folder: string, file: string, takeOverThisProcess = false): Promise<FolderLock> {
        const me: Owner = {pid: process.pid, hostname: hostname(), token: randomUUID()};
        for (let attempt = 0; attempt < 3; attempt++) {
            try {
                await fs.writeFile(file, JSON.stringify(me), {flag: 'wx'});
                return new FolderLock(file, me.token);
            } catch (error) {
                if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
                    throw error;
                }
            }
            const owner = await readOwner(file);
            if (owner && (owner.hostname !== me.hostname || (owner.pid === me.pid ? !takeOverThisProcess : isAlive(owner.pid)))) {
                throw new FolderInUseError(folder, owner);
            }
            // Stale, unreadable, or ours from before a reload that was asked to be taken over
            await fs.rm(file, {force: true});
        }
        throw new Error(`Could not lock the folder ${folder}: its lock keeps changing`);
    }

    /** Whether the lock is still this one's (a reloaded instance may have taken it over) */
    async held(): Promise<boolean> {
        return (await readOwner(this.file))?.token === this.token;
    }

    /** Remove the lock unless somebody (a reloaded instance) has taken it over since */
    async release(): Promise<void> {
        const owner = await readOwner(this.file);
        if (owner?.token === this.token) {
            await fs.rm(this.file, {force: true});
        }
    }
}
