import {existsSync} from 'fs';
import {mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile} from 'fs/promises';
import {hostname, tmpdir} from 'os';
import {join} from 'path';
import {FileReconnectBufferStore} from '../../src/buffer/file-reconnect-buffer-store';
import {FolderInUseError, LEASE_RENEW_MS, LEASE_STALE_MS} from '../../src/buffer/folder-lock';
import {BufferLostError} from '../../src/buffer/reconnect-buffer-store';
import {newClientId} from '../../src/protocol/client-id';
import {waitFor} from '../helpers/wait';

const LOCK = '.owner.json';

describe('FileReconnectBufferStore', () => {
    let root: string;
    let folder: string;
    const opened: Array<FileReconnectBufferStore> = [];
    const open = async (at = folder): Promise<FileReconnectBufferStore> => {
        const store = await FileReconnectBufferStore.open(at);
        opened.push(store);
        return store;
    };
    const files = async (): Promise<Array<string>> => (await readdir(folder)).filter((name) => name !== LOCK).sort();

    beforeEach(async () => {
        root = await mkdtemp(join(tmpdir(), 'mashroom-websocket-store-'));
        folder = join(root, 'a', 'b');
    });

    afterEach(async () => {
        await Promise.all(opened.splice(0).map((store) => store.close()));
        await rm(root, {recursive: true, force: true});
    });

    it('creates its folder, including missing parents', async () => {
        await open();
        expect(existsSync(folder)).toBe(true);
    });

    it('fails to open where no folder can be created', async () => {
        const file = join(root, 'file');
        await writeFile(file, '');
        await expect(open(join(file, 'sub'))).rejects.toThrow();
    });

    it('appends in order and reads everything back, messages with newlines in strings included', async () => {
        const store = await open();
        const id = newClientId();
        const messages = [{a: 1}, {text: 'line\nbreak'}, 'plain', [1, 2]].map((message) => JSON.stringify(message));
        await store.append(id, messages.slice(0, 2), false);
        await store.append(id, messages.slice(2), true);
        await store.append(id, [], true);
        expect(await store.readAll(id)).toEqual(messages);
        expect(await files()).toEqual([`${id}.ndjson`]);
    });

    it('reads nothing and removes nothing without error for an unknown client', async () => {
        const store = await open();
        expect(await store.readAll(newClientId())).toEqual([]);
        await expect(store.remove(newClientId())).resolves.toBeUndefined();
    });

    it('removes one client buffer', async () => {
        const store = await open();
        const [first, second] = [newClientId(), newClientId()];
        await store.append(first, ['1'], false);
        await store.append(second, ['2'], false);
        await store.remove(first);
        expect(await files()).toEqual([`${second}.ndjson`]);
    });

    it('clears only its own files', async () => {
        const store = await open();
        await store.append(newClientId(), ['1'], false);
        await store.append(newClientId(), ['2'], false);
        await writeFile(join(folder, 'README.txt'), 'not ours');
        await store.clear();
        expect(await files()).toEqual(['README.txt']);
    });

    it('recreates its folder when it disappeared before a first append', async () => {
        const store = await open();
        await rm(folder, {recursive: true});
        const id = newClientId();
        await store.append(id, ['"after"'], false);
        expect(await store.readAll(id)).toEqual(['"after"']);
    });

    it('does not restart a buffer that was deleted from outside: a continuing append rejects with BufferLostError', async () => {
        const store = await open();
        const id = newClientId();
        await store.append(id, ['1'], false);
        await rm(join(folder, `${id}.ndjson`));
        await expect(store.append(id, ['2'], true)).rejects.toThrow(BufferLostError);
        expect(await files()).toEqual([]);
    });

    it('refuses anything but a client id as a file name', async () => {
        const store = await open();
        for (const id of ['../escape', '/etc/passwd', 'x', '']) {
            await expect(store.append(id, ['1'], false)).rejects.toThrow('not a client id');
            await expect(store.readAll(id)).rejects.toThrow('not a client id');
            await expect(store.remove(id)).rejects.toThrow('not a client id');
        }
        expect(await readdir(root)).toEqual(['a']);
        expect(await files()).toEqual([]);
    });

    describe('drain and restart', () => {
        const alice = {username: 'alice', connectPath: '/feed', sequenced: false, lastSeq: 0};
        /** A seal deadline that no test reaches */
        const IN_TIME = Number.MAX_SAFE_INTEGER;
        /** A store that drained: its clients sealed, closed; then a new one on the same folder */
        const drainedAndRestarted = async (clients: Array<{clientId: string; frames: Array<string>; deadline: number}>): Promise<FileReconnectBufferStore> => {
            const before = await FileReconnectBufferStore.open(folder);
            for (const {clientId, frames} of clients) {
                await before.append(clientId, frames, false);
            }
            await before.seal(clients.map(({clientId, deadline}) => ({clientId, session: alice, deadline})), IN_TIME);
            await before.close();
            const after = await open();
            await after.restore();
            return after;
        };

        it('hands the sealed clients on to the next process, to be claimed by the same user, path and protocol', async () => {
            const [one, two] = [newClientId(), newClientId()];
            const store = await drainedAndRestarted([
                {clientId: one, frames: ['{"n":1}', '{"n":2}'], deadline: Date.now() + 60_000},
                {clientId: two, frames: [], deadline: Date.now() + 60_000},
            ]);
            expect(store.lastRestore).toEqual({restored: 2, expired: 0, problem: null});
            expect([store.mayHold(one), store.mayHold(two), store.mayHold(newClientId())]).toEqual([true, true, false]);
            expect(await store.claim(one, {...alice, username: 'bob'})).toBeNull();
            expect(await store.claim(one, {...alice, connectPath: '/other'})).toBeNull();
            expect(await store.claim(one, {...alice, sequenced: true})).toBeNull();
            expect(await store.claim(one, alice)).toEqual({messages: ['{"n":1}', '{"n":2}'], recorded: 2, session: alice});
            // Claimed once: from now on it is a client of this process
            expect(store.mayHold(one)).toBe(false);
            expect(await files()).toEqual([`${one}.ndjson`]);
        });

        it('hands on hundreds of clients whose buffers take several write blocks, each with its frames in order', async () => {
            const frame = (client: number, n: number): string => JSON.stringify({client, n, pad: 'x'.repeat(2000)});
            const clients = Array.from({length: 300}, (_, client) => ({
                clientId: newClientId(),
                frames: Array.from({length: 5}, (_, n) => frame(client, n)),
                deadline: Date.now() + 60_000,
            }));
            const store = await drainedAndRestarted(clients);
            expect(store.lastRestore).toEqual({restored: 300, expired: 0, problem: null});
            for (const [client, {clientId, frames}] of clients.entries()) {
                expect(await store.claim(clientId, alice)).toEqual({messages: frames, recorded: 5, session: alice});
                expect(frames[4]).toBe(frame(client, 4));
            }
        });

        it('leaves out what it cannot read by the deadline, says how many it kept, and hands on only those', async () => {
            const [one, two] = [newClientId(), newClientId()];
            const before = await FileReconnectBufferStore.open(folder);
            await before.append(one, ['"one"'], false);
            await before.append(two, ['"two"'], false);
            const sealed = [one, two].map((clientId) => ({clientId, session: alice, deadline: Date.now() + 60_000}));
            expect(await before.seal(sealed, Date.now() - 1)).toEqual([]);
            await before.close();
            const after = await open();
            expect(await after.restore()).toBe(0);
            expect(after.mayHold(one)).toBe(false);
            expect(await files()).toEqual([]);
        });

        it('removes at start what a crashed process left (no snapshot) and clients whose window has passed', async () => {
            const [kept, late, crashed] = [newClientId(), newClientId(), newClientId()];
            await mkdir(folder, {recursive: true});
            await writeFile(join(folder, `${crashed}.ndjson`), '"left by a crash"\n');
            const store = await drainedAndRestarted([
                {clientId: kept, frames: ['"kept"'], deadline: Date.now() + 60_000},
                {clientId: late, frames: ['"late"'], deadline: Date.now() - 1},
            ]);
            expect(store.lastRestore).toEqual({restored: 1, expired: 1, problem: null});
            expect(await files()).toEqual([`${kept}.ndjson`]);
            expect(store.mayHold(late)).toBe(false);
        });

        it('restores nothing of a snapshot that does not verify, and says why', async () => {
            const clientId = newClientId();
            const before = await FileReconnectBufferStore.open(folder);
            await before.append(clientId, ['{"greetings":"Hello A"}'], false);
            await before.seal([{clientId, session: alice, deadline: Date.now() + 60_000}], IN_TIME);
            await before.close();
            const snapshot = join(folder, '.drained.ndjson');
            await writeFile(snapshot, (await readFile(snapshot, 'utf8')).replace('Hello A', 'Hello B'));
            const store = await open();
            expect(await store.restore()).toBe(0);
            expect(store.lastRestore?.problem).toBe('its checksum does not match (cut short or changed)');
            expect(store.mayHold(clientId)).toBe(false);
            expect(await files()).toEqual([]);
        });

        it('forgets a restored client when its window passes, and hands on those nobody claimed at the next drain', async () => {
            const [soon, later] = [newClientId(), newClientId()];
            const store = await drainedAndRestarted([
                {clientId: soon, frames: ['"soon"'], deadline: Date.now() + 50},
                {clientId: later, frames: ['"later"'], deadline: Date.now() + 60_000},
            ]);
            await waitFor(() => !store.mayHold(soon), 'the end of its window');
            await waitFor(async () => (await files()).length === 1, 'its file to be removed');
            expect(await files()).toEqual([`${later}.ndjson`]);
            // Drained again without being claimed: still handed on
            await store.seal([], IN_TIME);
            await store.close();
            opened.length = 0;
            const next = await open();
            expect(await next.restore()).toBe(1);
            expect(await next.claim(later, alice)).toMatchObject({messages: ['"later"'], recorded: 1});
        });

        it('does not seal into a folder a later instance has taken over', async () => {
            const first = await FileReconnectBufferStore.open(folder);
            const second = await FileReconnectBufferStore.open(folder, true);
            opened.push(second);
            await expect(first.seal([{clientId: newClientId(), session: alice, deadline: Date.now() + 1000}], IN_TIME)).rejects.toThrow('taken over');
            await first.close();
            expect(await files()).toEqual([]);
        });
    });

    describe('folder lock', () => {
        it('marks the folder as used by this process and releases it on close', async () => {
            const store = await FileReconnectBufferStore.open(folder);
            const owner = JSON.parse(await readFile(join(folder, LOCK), 'utf8'));
            expect(owner).toEqual({pid: process.pid, hostname: hostname(), token: expect.any(String)});
            await store.close();
            expect(await readdir(folder)).toEqual([]);
        });

        it('refuses a folder whose lease a running process of this host, or a process of another host, renews', async () => {
            await open(folder);
            await writeFile(join(folder, LOCK), JSON.stringify({pid: 1, hostname: hostname(), token: 't'}));
            await expect(FileReconnectBufferStore.open(folder)).rejects.toThrow(FolderInUseError);
            await writeFile(join(folder, LOCK), JSON.stringify({pid: process.pid, hostname: 'another-host', token: 't'}));
            await expect(FileReconnectBufferStore.open(folder)).rejects.toThrow('in use by process');
            // Renewed a moment before it would have been stale: still respected
            const almostStale = new Date(Date.now() - LEASE_STALE_MS + 2000);
            await utimes(join(folder, LOCK), almostStale, almostStale);
            await expect(FileReconnectBufferStore.open(folder)).rejects.toThrow(FolderInUseError);
        });

        it('takes over a lease not renewed for three renewals, whoever held it', async () => {
            await mkdir(folder, {recursive: true});
            for (const owner of [{pid: 1, hostname: hostname()}, {pid: process.pid, hostname: 'another-host'}]) {
                await writeFile(join(folder, LOCK), JSON.stringify({...owner, token: 'killed'}));
                const lastRenewed = new Date(Date.now() - LEASE_STALE_MS - 1000);
                await utimes(join(folder, LOCK), lastRenewed, lastRenewed);
                const store = await FileReconnectBufferStore.open(folder);
                expect(JSON.parse(await readFile(join(folder, LOCK), 'utf8'))).toMatchObject({pid: process.pid, hostname: hostname()});
                await store.close();
            }
        });

        it('renews its lease while it holds the folder, and stops at release', async () => {
            jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
            try {
                const store = await FileReconnectBufferStore.open(folder);
                const lock = join(folder, LOCK);
                const longAgo = new Date(Date.now() - 60_000);
                await utimes(lock, longAgo, longAgo);
                expect(jest.getTimerCount()).toBe(1);
                jest.advanceTimersByTime(LEASE_RENEW_MS);
                // The renewal is real file I/O: wait for it turn by turn (the fake timers hold back setTimeout)
                for (let turn = 0; turn < 10_000 && Date.now() - (await stat(lock)).mtimeMs > LEASE_RENEW_MS; turn++) {
                    await new Promise((resolve) => setImmediate(resolve));
                }
                expect(Date.now() - (await stat(lock)).mtimeMs).toBeLessThan(LEASE_RENEW_MS);
                await store.close();
                expect(jest.getTimerCount()).toBe(0);
            } finally {
                jest.useRealTimers();
            }
        });

        it('takes over the lock of a process that is gone, or an unreadable one', async () => {
            await mkdir(folder, {recursive: true});
            for (const content of [JSON.stringify({pid: 2 ** 22 + 1, hostname: hostname(), token: 'dead'}), 'garbage']) {
                await writeFile(join(folder, LOCK), content);
                const store = await FileReconnectBufferStore.open(folder);
                expect(JSON.parse(await readFile(join(folder, LOCK), 'utf8')).pid).toBe(process.pid);
                await store.close();
            }
        });

        it('takes over the lock of an earlier instance of this process (still draining before a reload) only when asked to', async () => {
            await mkdir(folder, {recursive: true});
            await writeFile(join(folder, LOCK), JSON.stringify({pid: process.pid, hostname: hostname(), token: 'before a reload'}));
            const refused = await FileReconnectBufferStore.open(folder).catch((error: unknown) => error);
            expect(refused).toBeInstanceOf(FolderInUseError);
            expect(refused).toMatchObject({sameHost: true, sameProcess: true});
            const store = await FileReconnectBufferStore.open(folder, true);
            expect(JSON.parse(await readFile(join(folder, LOCK), 'utf8')).token).not.toBe('before a reload');
            await store.close();
        });

        it('leaves a lock alone on close that a later instance has taken over', async () => {
            const first = await FileReconnectBufferStore.open(folder);
            const second = await FileReconnectBufferStore.open(folder, true);
            opened.push(second);
            await first.close();
            expect(await readdir(folder)).toEqual([LOCK]);
            await second.close();
            expect(await readdir(folder)).toEqual([]);
            opened.length = 0;
        });
    });
});
