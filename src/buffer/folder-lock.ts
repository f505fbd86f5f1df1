import {randomUUID} from 'crypto';
import {promises as fs} from 'fs';
import {hostname} from 'os';

type Owner = {
    readonly pid: number;
    readonly hostname: string;
    readonly token: string;
};

/** How often the owner renews its lease on the folder: it touches the lock file */
export const LEASE_RENEW_MS = 5_000;
/** A lease not renewed for this long (three renewals missed) is taken for that of a process that is gone */
export const LEASE_STALE_MS = 3 * LEASE_RENEW_MS;

export class FolderInUseError extends Error {
    /** Whether the process that uses it runs on this host (a process of this host that is stopping lets it go) */
    readonly sameHost: boolean;
    /** Whether it is this very process: an instance of the plugin before a reload, which lets it go once drained */
    readonly sameProcess: boolean;

    constructor(folder: string, owner: Owner) {
        super(`The folder ${folder} is in use by process ${owner.pid} on ${owner.hostname}, which renews its lease on it: give every` +
            ' server process its own folder (e.g. with ${env.NODE_APP_INSTANCE} in the path under PM2, or a volume per pod)');
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

/** How long ago the lock file was last touched (its owner's last renewal), or null if it is gone */
const leaseAge = async (file: string): Promise<number | null> => {
    try {
        return Date.now() - (await fs.stat(file)).mtimeMs;
    } catch {
        return null;
    }
};

/**
 * Marks a folder as used by this process, so that two server processes configured with the same folder
 * (a PM2 cluster, two nodes on a shared volume) do not delete each other's buffers at start. The owner renews
 * its lease every LEASE_RENEW_MS by touching the lock file. A lock is taken over when its lease is stale (the
 * owner was killed, on this host or another: a re-created container gets another hostname, and a pid may be in
 * use again), or at once when its owner is on this host and its pid runs no more; a lock of this very process
 * (the instance before a plugin reload, still draining) only when asked to. A lease that is renewed is respected.
 * The age of a lease is judged by this host's clock against the file's time: hosts sharing a volume need clocks
 * that agree within a few seconds.
 */
export class FolderLock {

    #renewal: NodeJS.Timeout | null;

    private constructor(private readonly file: string, private readonly token: string) {
        this.#renewal = setInterval(() => void this.#renew(), LEASE_RENEW_MS);
        this.#renewal.unref();
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
            if (owner && !await FolderLock.#mayTakeOver(file, owner, me, takeOverThisProcess)) {
                throw new FolderInUseError(folder, owner);
            }
            // Stale, unreadable, or ours from before a reload that was asked to be taken over
            await fs.rm(file, {force: true});
        }
        throw new Error(`Could not lock the folder ${folder}: its lock keeps changing`);
    }

    static async #mayTakeOver(file: string, owner: Owner, me: Owner, takeOverThisProcess: boolean): Promise<boolean> {
        if (owner.hostname === me.hostname && owner.pid === me.pid) {
            return takeOverThisProcess;
        }
        if (owner.hostname === me.hostname && !isAlive(owner.pid)) {
            return true;
        }
        const age = await leaseAge(file);
        return age === null || age > LEASE_STALE_MS;
    }

    /** Whether the lock is still this one's (a reloaded instance may have taken it over) */
    async held(): Promise<boolean> {
        return (await readOwner(this.file))?.token === this.token;
    }

    async #renew(): Promise<void> {
        try {
            if (await this.held()) {
                const now = new Date();
                await fs.utimes(this.file, now, now);
            } else {
                // Taken over (this process was stalled longer than a lease lasts): it is not ours to renew
                this.#stopRenewing();
            }
        } catch {
            // Gone or unreachable for now: the next renewal tries again
        }
    }

    #stopRenewing(): void {
        if (this.#renewal) {
            clearInterval(this.#renewal);
            this.#renewal = null;
        }
    }

    /** Remove the lock unless somebody (a reloaded instance) has taken it over since */
    async release(): Promise<void> {
        this.#stopRenewing();
        const owner = await readOwner(this.file);
        if (owner?.token === this.token) {
            await fs.rm(this.file, {force: true});
        }
    }
}
