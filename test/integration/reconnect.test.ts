import {existsSync} from 'fs';
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {refusedStatus, TestClient} from '../helpers/test-client';
import type {UserKey} from '../helpers/test-plugin-context';
import {tcpSocketOf} from '../helpers/socket-pair';
import {waitFor} from '../helpers/wait';
import type {MashroomWebSocketClient} from '../../type-definitions';

const BUFFER = 'buffer/ws';
// The store's mark that the folder is in use by this process
const LOCK_FILE = '.owner.json';

describe('reconnect buffer', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];
    const disconnected: Array<MashroomWebSocketClient> = [];
    const scratchFolders: Array<string> = [];
    const silenced: Array<import('net').Socket> = [];
    const scratchFolder = async (): Promise<string> => {
        const folder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-scratch-'));
        scratchFolders.push(folder);
        return folder;
    };

    const start = async (config: Record<string, unknown> = {}) => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: BUFFER, reconnectTimeoutSec: 5, ...config}});
        server.service.addDisconnectListener((client) => {
            disconnected.push(client);
        });
    };
    const bufferFolder = () => join(server.rootFolder, BUFFER);
    const connect = async (user: UserKey, query = '', path = '/feed'): Promise<{client: TestClient; clientId: string}> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket${path}${query}`, user);
        clients.push(client);
        return {client, clientId: await client.clientId()};
    };
    const serverSide = (clientId: string): MashroomWebSocketClient => {
        const found = [...server.service.getClientsOnPath('/feed'), ...server.service.getClientsOnPath('/other')]
            .find((client) => client.clientId === clientId);
        if (!found) {
            throw new Error(`No client ${clientId} on the server`);
        }
        return found;
    };
    const waitingFor = (clientId: string) => waitFor(
        () => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0,
        `the server to notice that ${clientId} dropped`);

    /** The connection of a client that died without a trace: no close, no pong, nothing read any more */
    const goSilent = (client: TestClient): void => {
        const raw = tcpSocketOf(client.socket);
        raw.pause();
        // Awake again for closing after the test
        silenced.push(raw);
    };

    beforeEach(() => {
        disconnected.length = 0;
    });

    afterEach(async () => {
        silenced.splice(0).forEach((raw) => raw.resume());
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
        await Promise.all(scratchFolders.splice(0).map((folder) => rm(folder, {recursive: true, force: true})));
    });

    it('creates the buffer folder below the server root folder', async () => {
        await start();
        expect(existsSync(bufferFolder())).toBe(true);
        expect(server.context.log.find('info', 'Reconnect message buffering is on')).toHaveLength(1);
    });

    it('runs without buffering, with an error log, when the folder cannot be created', async () => {
        const blocker = join(await scratchFolder(), 'a-file');
        await writeFile(blocker, 'not a folder');
        await start({reconnectMessageBufferFolder: join(blocker, 'buffer')});
        expect(server.context.log.find('error', 'Reconnect message buffering is off')).toHaveLength(1);

        const {client, clientId} = await connect('alice');
        await client.drop();
        await waitFor(() => disconnected.length === 1, 'the client to be removed');
        expect(disconnected[0].clientId).toBe(clientId);
        expect(server.service.getClientCount()).toBe(0);
    });

    it('resumes a dropped client within the window: same id, buffered messages in order, then the file is gone', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        const original = serverSide(clientId);
        await client.drop();
        await waitingFor(clientId);
        expect(server.service.getClientCount()).toBe(1);
        expect(original.alive).toBe(false);

        for (let n = 1; n <= 5; n++) {
            await server.service.sendMessage(original, {n});
        }
        const file = join(bufferFolder(), `${clientId}.ndjson`);
        // One record per line: a checksum, then the message
        expect((await readFile(file, 'utf8')).trim().split('\n').map((line) => line.slice(8))).toEqual([1, 2, 3, 4, 5].map((n) => JSON.stringify({n})));

        const resumed = await connect('alice', `?clientId=${clientId}`);
        expect(resumed.clientId).toBe(clientId);
        for (let n = 1; n <= 5; n++) {
            expect(await resumed.client.nextJson()).toEqual({n});
        }
        await waitFor(() => !existsSync(file), 'the buffer file to be deleted');
        // The very same client object, so plugins that keep state per client keep it
        expect(serverSide(clientId)).toBe(original);
        expect(original.alive).toBe(true);
        expect(disconnected).toEqual([]);

        await server.service.sendMessage(original, {live: true});
        expect(await resumed.client.nextJson()).toEqual({live: true});
    });

    it.each([
        ['cut in the middle of its last line', (content: string) => content.slice(0, content.length - 8)],
        ['with a line garbled, the count of lines the same', (content: string) => content.replace('Hello alice', 'Hello mallory')],
    ])('replays nothing of a buffer file %s: the client starts afresh', async (_what, damage) => {
        await start();
        const {client, clientId} = await connect('alice');
        const original = serverSide(clientId);
        await client.drop();
        await waitingFor(clientId);
        await server.service.sendMessage(original, {first: true});
        await server.service.sendMessage(original, {greetings: 'Hello alice!'});
        const file = join(bufferFolder(), `${clientId}.ndjson`);
        const content = await readFile(file, 'utf8');
        expect(content.split('\n')).toHaveLength(3);
        await writeFile(file, damage(content));

        const again = await connect('alice', `?clientId=${clientId}`);
        expect(again.clientId).not.toBe(clientId);
        expect(server.context.log.find('warn', `${clientId}.ndjson holds a message that does not verify (cut short or changed)`)).toHaveLength(1);
        // Nothing of it came: the next message is a live one
        await server.service.sendMessage(serverSide(again.clientId), {live: true});
        expect(await again.client.nextJson()).toEqual({live: true});
        expect(disconnected.map((each) => each.clientId)).toEqual([clientId]);
    });

    it('also resumes after a clean close of the client', async () => {
        await start();
        const {client, clientId} = await connect('bob');
        await client.close(1000);
        await waitingFor(clientId);
        await server.service.sendMessage(serverSide(clientId), {after: 'close'});
        const resumed = await connect('bob', `?clientId=${clientId}`);
        expect(resumed.clientId).toBe(clientId);
        expect(await resumed.client.nextJson()).toEqual({after: 'close'});
    });

    it('keeps order across the resume while messages keep coming, with everything sent meanwhile', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        const target = serverSide(clientId);
        let n = 0;
        const sent: Array<Promise<void>> = [];
        const bufferedWhileAway = new Set<number>();
        const producer = setInterval(() => {
            const current = n++;
            sent.push(server.service.sendMessage(target, {n: current}).then(() => {
                if (!target.alive) {
                    bufferedWhileAway.add(current);
                }
            }));
        }, 1);
        try {
            await client.nextJson();
            await client.drop();
            await waitingFor(clientId);
            await waitFor(() => bufferedWhileAway.size >= 5, 'some messages to be buffered');
            const resumed = await connect('alice', `?clientId=${clientId}`);
            expect(resumed.clientId).toBe(clientId);
            const replayed: Array<number> = [];
            const lastBuffered = Math.max(...bufferedWhileAway);
            while (replayed.length < 50 || replayed[replayed.length - 1] < lastBuffered) {
                replayed.push((await resumed.client.nextJson() as {n: number}).n);
            }
            // Strictly in order and without gaps, from before the first message buffered while away
            replayed.forEach((value, index) => expect(value).toBe(replayed[0] + index));
            expect(replayed[0]).toBeLessThanOrEqual(Math.min(...bufferedWhileAway));
        } finally {
            clearInterval(producer);
        }
        await Promise.all(sent.map((promise) => promise.catch(() => undefined)));
    });

    it('removes the client, deletes its file and tells the disconnect listeners when the window passes', async () => {
        await start({reconnectTimeoutSec: 0.3});
        const {client, clientId} = await connect('alice');
        await client.drop();
        await waitingFor(clientId);
        await server.service.sendMessage(serverSide(clientId), {lost: 'forever'});
        expect(existsSync(join(bufferFolder(), `${clientId}.ndjson`))).toBe(true);

        await waitFor(() => disconnected.length === 1, 'the reconnect window to pass');
        expect(disconnected[0].clientId).toBe(clientId);
        expect(server.service.getClientCount()).toBe(0);
        await waitFor(() => !existsSync(join(bufferFolder(), `${clientId}.ndjson`)), 'the buffer file to be deleted');

        const late = await connect('alice', `?clientId=${clientId}`);
        expect(late.clientId).not.toBe(clientId);
        const [fresh] = server.service.getClientsOfUser('alice');
        await server.service.sendMessage(fresh, {marker: 1});
        expect(await late.client.nextJson()).toEqual({marker: 1});
    });

    it('removes a dropped client at once when buffering is off', async () => {
        await start({reconnectMessageBufferFolder: null});
        const {client, clientId} = await connect('alice');
        await client.drop();
        await waitFor(() => disconnected.length === 1, 'the client to be removed');
        expect(disconnected[0].clientId).toBe(clientId);
        expect(server.service.getClientCount()).toBe(0);
        const again = await connect('alice', `?clientId=${clientId}`);
        expect(again.clientId).not.toBe(clientId);
    });

    it('gives another user with a stolen clientId a fresh client and none of the messages', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        await client.drop();
        await waitingFor(clientId);
        await server.service.sendMessage(serverSide(clientId), {secret: 'for alice'});

        const thief = await connect('bob', `?clientId=${clientId}`);
        expect(thief.clientId).not.toBe(clientId);
        expect(server.context.log.find('warn', 'it belongs to another user')).toHaveLength(1);
        const [bobClient] = server.service.getClientsOfUser('bob');
        await server.service.sendMessage(bobClient, {marker: 'bob'});
        expect(await thief.client.nextJson()).toEqual({marker: 'bob'});

        // Alice can still resume and gets her message
        const resumed = await connect('alice', `?clientId=${clientId}`);
        expect(resumed.clientId).toBe(clientId);
        expect(await resumed.client.nextJson()).toEqual({secret: 'for alice'});
    });

    it('treats a clientId that is not one of ours as absent, and writes nothing outside the folder', async () => {
        await start();
        const hostile = ['../../../etc/passwd', '..%2F..%2Fx', 'a'.repeat(5000), '00000000-0000-0000-0000-000000000000'];
        for (const value of hostile) {
            const {client, clientId} = await connect('alice', `?clientId=${encodeURIComponent(value)}`);
            expect(clientId).not.toBe(value);
            await client.drop();
            await waitingFor(clientId);
            await server.service.sendMessage(serverSide(clientId), {x: 1});
        }
        expect(server.context.log.find('warn', 'not an id this server issues')).toHaveLength(1);
        expect((await readdir(server.rootFolder)).sort()).toEqual(['buffer']);
        const files = (await readdir(bufferFolder())).filter((file) => file !== LOCK_FILE);
        expect(files).toHaveLength(hostile.length);
        files.forEach((file) => expect(file).toMatch(/^[0-9a-f-]{36}\.ndjson$/));
    });

    it('keeps a user name out of file paths', async () => {
        await start();
        const {client, clientId} = await connect('traversal');
        await client.drop();
        await waitingFor(clientId);
        await server.service.sendMessage(serverSide(clientId), {x: 1});
        expect((await readdir(bufferFolder())).sort()).toEqual([LOCK_FILE, `${clientId}.ndjson`]);
        expect((await readdir(server.rootFolder)).sort()).toEqual(['buffer']);
        const resumed = await connect('traversal', `?clientId=${clientId}`);
        expect(resumed.clientId).toBe(clientId);
        expect(await resumed.client.nextJson()).toEqual({x: 1});
    });

    it('counts waiting clients against maxConnections and lets them resume, but gives the one waiting longest up for a live connection', async () => {
        await start({maxConnections: 2});
        const gone: Array<string> = [];
        server.service.addDisconnectListener((client) => {
            gone.push(client.clientId);
        });
        const first = await connect('alice');
        await first.client.drop();
        await waitingFor(first.clientId);
        const second = await connect('alice');
        await second.client.drop();
        await waitingFor(second.clientId);
        // Full, with two waiting: a resume gets in as ever
        const resumed = await connect('alice', `?clientId=${second.clientId}`);
        expect(resumed.clientId).toBe(second.clientId);
        // A new connection of another user goes before the client that waited longest, which is given up
        const bob = await connect('bob');
        expect(gone).toEqual([first.clientId]);
        expect(server.context.log.find('info', `Giving up client ${first.clientId} of user alice, which waits for a reconnect, to make room for a connection of user bob`)).toHaveLength(1);
        const late = await connect('alice', `?clientId=${first.clientId}`).catch((error: unknown) => error);
        expect(late).toEqual(new Error('Upgrade refused with HTTP 503'));
        // Full of live clients: refused
        await expect(refusedStatus(`${server.wsOrigin}/websocket/feed`, 'carol')).resolves.toBe(503);
        expect(server.service.getClientsOnPath('/feed').map((client) => client.clientId).sort()).toEqual([second.clientId, bob.clientId].sort());
    });

    it('does not resume on another connect path, nor a client whose connection is alive (a second tab)', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        // The first connection answers the probe ping: the second one is somebody else with a copied id
        const duplicate = await connect('alice', `?clientId=${clientId}`);
        expect(duplicate.clientId).not.toBe(clientId);
        expect(server.context.log.find('info', `Client ${clientId} is still connected`)).toHaveLength(1);
        expect(client.socket.readyState).toBe(client.socket.OPEN);

        await client.drop();
        await waitingFor(clientId);
        const elsewhere = await connect('alice', `?clientId=${clientId}`, '/other');
        expect(elsewhere.clientId).not.toBe(clientId);
        expect(server.context.log.find('info', 'it was connected on /feed')).toHaveLength(1);
    });

    it('takes over a client whose connection died without a trace, with everything it had not read', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        const target = serverSide(clientId);
        goSilent(client);
        for (let n = 0; n < 20; n++) {
            await server.service.sendMessage(target, {n});
        }
        const successor = await connect('alice', `?clientId=${clientId}`);
        expect(successor.clientId).toBe(clientId);
        expect(server.context.log.find('info', `The connection of client ${clientId} did not answer a ping`)).toHaveLength(1);
        for (let n = 0; n < 20; n++) {
            expect(await successor.client.nextJson()).toEqual({n});
        }
        // The same client object, now on the new connection
        expect(serverSide(clientId)).toBe(target);
        await server.service.sendMessage(target, {after: 'takeover'});
        expect(await successor.client.nextJson()).toEqual({after: 'takeover'});
    });

    it('lets only one of two connections that want the same dead client take it over', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        goSilent(client);
        await server.service.sendMessage(serverSide(clientId), {n: 1});
        const [first, second] = await Promise.all([connect('alice', `?clientId=${clientId}`), connect('alice', `?clientId=${clientId}`)]);
        const takers = [first, second].filter((attempt) => attempt.clientId === clientId);
        expect(takers).toHaveLength(1);
        expect(await takers[0].client.nextJson()).toEqual({n: 1});
        // One ping asked the old connection, and it was taken over once
        expect(server.context.log.find('info', `The connection of client ${clientId} did not answer a ping`)).toHaveLength(1);
        const other = first === takers[0] ? second : first;
        expect(other.clientId).not.toBe(clientId);
        expect(server.service.getClientsOfUser('alice').map((each) => each.clientId).sort()).toEqual([first.clientId, second.clientId].sort());
    });

    it('gives a connection that takes over a client whose buffer overflowed a fresh client, and tells the listeners once', async () => {
        await start({reconnectMessageBufferMaxBytes: 1000});
        const {client, clientId} = await connect('alice');
        goSilent(client);
        const target = serverSide(clientId);
        // More than the buffer takes: the old connection's unread messages cannot all be kept
        for (let n = 0; n < 40; n++) {
            await server.service.sendMessage(target, {n, padding: 'x'.repeat(50)});
        }
        const successor = await connect('alice', `?clientId=${clientId}`);
        expect(successor.clientId).not.toBe(clientId);
        // It got none of them (an incomplete replay would be worse than none): the echo comes first
        server.service.addMessageListener(() => true, (message, sender) => server.service.sendMessage(sender, {echo: message}));
        successor.client.send({marker: true});
        expect(await successor.client.nextJson()).toEqual({echo: {marker: true}});
        expect(disconnected.map((each) => each.clientId)).toEqual([clientId]);
        expect(server.service.getClientsOfUser('alice').map((each) => each.clientId)).toEqual([successor.clientId]);
    });

    it('keeps maxConnectionsPerUser when a second tab with a copied id connects', async () => {
        await start({maxConnectionsPerUser: 1});
        const {client, clientId} = await connect('alice');
        // The first connection is alive: the second would be another client of alice, one too many
        const duplicate = await TestClient.connect(`${server.wsOrigin}/websocket/feed?clientId=${clientId}`, 'alice');
        clients.push(duplicate);
        expect(await duplicate.closed).toMatchObject({code: 1013});
        expect(server.context.log.find('warn', 'no room for another client of user alice')).toHaveLength(1);
        expect(server.service.getClientsOfUser('alice').map((each) => each.clientId)).toEqual([clientId]);
        expect(client.socket.readyState).toBe(client.socket.OPEN);
    });

    it('removes buffer files left over by a previous process at start', async () => {
        const folder = join(await scratchFolder(), 'buffer');
        await mkdir(folder);
        const leftover = join(folder, '9b2f8f43-5c57-4f1a-9a55-4d0c2a4f8e11.ndjson');
        const unrelated = join(folder, 'notes.txt');
        await writeFile(leftover, '{"old":1}\n');
        await writeFile(unrelated, 'keep me');
        await start({reconnectMessageBufferFolder: folder});
        expect(existsSync(leftover)).toBe(false);
        expect(existsSync(unrelated)).toBe(true);
    });
});
