import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {tcpSocketOf, wireOpcodes} from '../helpers/socket-pair';
import {waitFor} from '../helpers/wait';
import type {MashroomWebSocketClient} from '../../type-definitions';

describe('messages from and to clients', () => {
    let server: TestServer;
    let client: TestClient;
    const received: Array<{message: unknown; client: MashroomWebSocketClient}> = [];
    const echo = (message: unknown, from: MashroomWebSocketClient) => {
        received.push({message, client: from});
        return server.service.sendMessage(from, {echo: message});
    };
    const onEcho = (connectPath: string) => connectPath === '/echo';

    beforeEach(async () => {
        received.length = 0;
        server = await startTestServer();
        server.service.addMessageListener(onEcho, echo);
        client = await TestClient.connect(`${server.wsOrigin}/websocket/echo`, 'alice');
        await client.clientId();
    });

    afterEach(async () => {
        await client.close();
        await server.stop();
    });

    it('parses text frames as JSON and hands them to the matching listeners with the client', async () => {
        const other = jest.fn();
        server.service.addMessageListener((connectPath) => connectPath === '/other', other);
        client.send({hello: 'world', n: [1, 2]});
        expect(await client.nextJson()).toEqual({echo: {hello: 'world', n: [1, 2]}});
        expect(received[0].client.user.username).toBe('alice');
        expect(received[0].client.connectPath).toBe('/echo');
        expect(other).not.toHaveBeenCalled();
    });

    it('passes the connect path and the message to the matcher', async () => {
        const matcher = jest.fn(() => false);
        server.service.addMessageListener(matcher, jest.fn());
        client.send({type: 'x'});
        await client.nextJson();
        expect(matcher).toHaveBeenCalledWith('/echo', {type: 'x'});
    });

    it('calls every matching listener, and each added pair is removed by the same pair', async () => {
        const second = jest.fn();
        const matchAll = () => true;
        server.service.addMessageListener(matchAll, second);
        client.send({n: 1});
        await client.nextJson();
        expect(second).toHaveBeenCalledTimes(1);
        server.service.removeMessageListener(matchAll, second);
        client.send({n: 2});
        await client.nextJson();
        expect(second).toHaveBeenCalledTimes(1);
    });

    it('logs invalid JSON and carries on with the connection', async () => {
        client.sendRaw('{"broken": ');
        client.send({after: 'broken'});
        expect(await client.nextJson()).toEqual({echo: {after: 'broken'}});
        expect(server.context.log.find('warn', 'not valid JSON')).toHaveLength(1);
        expect(received).toHaveLength(1);
    });

    it('logs binary frames and carries on with the connection', async () => {
        client.sendRaw(Buffer.from([0, 1, 2, 3]), {binary: true});
        client.send({after: 'binary'});
        expect(await client.nextJson()).toEqual({echo: {after: 'binary'}});
        expect(server.context.log.find('warn', 'binary frames are not supported')).toHaveLength(1);
    });

    it('survives a throwing matcher, a throwing listener and a rejecting listener, and logs each', async () => {
        const unhandled = jest.fn();
        process.on('unhandledRejection', unhandled);
        try {
            server.service.addMessageListener(() => {
                throw new Error('matcher broke');
            }, jest.fn());
            server.service.addMessageListener(onEcho, () => {
                throw new Error('listener broke');
            });
            server.service.addMessageListener(onEcho, async () => {
                throw new Error('listener rejected');
            });
            client.send({n: 1});
            expect(await client.nextJson()).toEqual({echo: {n: 1}});
            await waitFor(() => server.context.log.find('error', 'rejected').length === 1, 'the rejection to be logged');
            expect(server.context.log.find('error', 'A message matcher threw')).toHaveLength(1);
            expect(server.context.log.find('error', 'A message listener threw')).toHaveLength(1);
            expect(server.context.log.find('error', 'A message listener rejected')).toHaveLength(1);
            // Still connected and served
            client.send({n: 2});
            expect(await client.nextJson()).toEqual({echo: {n: 2}});
            expect(unhandled).not.toHaveBeenCalled();
        } finally {
            process.off('unhandledRejection', unhandled);
        }
    });

    describe('several frames in one TCP chunk (ws handles them in one turn, and the replies are batched)', () => {
        /** Write what `send` sends in one chunk */
        const inOneChunk = (send: () => void): void => {
            const raw = tcpSocketOf(client.socket);
            raw.cork();
            send();
            raw.uncork();
        };
        const replies = (): Array<unknown> => client.received.map((text) => JSON.parse(text) as {echo?: unknown}).filter((message) => 'echo' in message);

        it('answers messages in order around a ping that came with them', async () => {
            const opcodes = wireOpcodes(client.socket);
            inOneChunk(() => {
                [1, 2, 3].forEach((n) => client.send({n}));
                client.socket.ping();
                [4, 5].forEach((n) => client.send({n}));
            });
            await waitFor(() => replies().length === 5, 'five replies');
            expect(replies()).toEqual([1, 2, 3, 4, 5].map((n) => ({echo: {n}})));
            // ws answered the ping by itself (the pong may come before the queued replies: no order holds between them)
            expect(opcodes()).toContain(10);
        });

        it('sends no reply after the close frame that answered a close in the same chunk', async () => {
            const opcodes = wireOpcodes(client.socket);
            inOneChunk(() => {
                [1, 2, 3].forEach((n) => client.send({n}));
                client.socket.close(1000);
            });
            expect((await client.closed).code).toBe(1000);
            // The first reply went out at once; the queued ones would have followed the close frame
            expect(opcodes()).toEqual([1, 8]);
            expect(received).toHaveLength(3);
            await waitFor(() => server.service.getClientCount() === 0, 'the client to be gone');
        });
    });

    it('logs a message that no listener takes at warn level', async () => {
        const nobody = await TestClient.connect(`${server.wsOrigin}/websocket/nobody`, 'bob');
        await nobody.clientId();
        nobody.send({lonely: true});
        await waitFor(() => server.context.log.find('warn', 'No message listener').length === 1, 'the warning');
        expect(server.context.log.find('warn', 'No message listener')[0].message).toContain('/nobody');
        await nobody.close();
    });

    it('rejects a listener or matcher that is not a function', () => {
        expect(() => server.service.addMessageListener(onEcho, null as unknown as () => void)).toThrow(TypeError);
        expect(() => server.service.addMessageListener('x' as unknown as () => boolean, jest.fn())).toThrow(TypeError);
        expect(() => server.service.addDisconnectListener(undefined as unknown as () => void)).toThrow(TypeError);
    });

    describe('sendMessage', () => {
        it('sends JSON.stringify(message) and resolves once written', async () => {
            const [alice] = server.service.getClientsOfUser('alice');
            await expect(server.service.sendMessage(alice, {a: 1, s: 'ü'})).resolves.toBeUndefined();
            await expect(server.service.sendMessage(alice, 'plain string')).resolves.toBeUndefined();
            await expect(server.service.sendMessage(alice, 42)).resolves.toBeUndefined();
            expect(await client.next()).toBe('{"a":1,"s":"ü"}');
            expect(await client.next()).toBe('"plain string"');
            expect(await client.next()).toBe('42');
        });

        it('sends what an object is at the time of each call, also when it is changed and sent again in one loop', async () => {
            const [alice] = server.service.getClientsOfUser('alice');
            const message = {n: 0};
            const sends: Array<Promise<void>> = [];
            for (let n = 1; n <= 3; n++) {
                message.n = n;
                sends.push(server.service.sendMessage(alice, message));
            }
            await Promise.all(sends);
            expect([await client.nextJson(), await client.nextJson(), await client.nextJson()]).toEqual([{n: 1}, {n: 2}, {n: 3}]);
        });

        it('keeps the order of messages sent in a row', async () => {
            const [alice] = server.service.getClientsOfUser('alice');
            await Promise.all(Array.from({length: 200}, (_, n) => server.service.sendMessage(alice, {n})));
            for (let n = 0; n < 200; n++) {
                expect(await client.nextJson()).toEqual({n});
            }
        });

        it('rejects what cannot be serialised, and the connection carries on', async () => {
            const [alice] = server.service.getClientsOfUser('alice');
            const circular: Record<string, unknown> = {};
            circular.self = circular;
            await expect(server.service.sendMessage(alice, circular)).rejects.toThrow(TypeError);
            await expect(server.service.sendMessage(alice, undefined)).rejects.toThrow('cannot be sent as JSON');
            await expect(server.service.sendMessage(alice, () => 1)).rejects.toThrow('cannot be sent as JSON');
            await server.service.sendMessage(alice, {still: 'here'});
            expect(await client.nextJson()).toEqual({still: 'here'});
        });

        it('rejects when the client is gone', async () => {
            const [alice] = server.service.getClientsOfUser('alice');
            await client.close();
            await waitFor(() => server.service.getClientCount() === 0, 'the client to be removed');
            await expect(server.service.sendMessage(alice, {too: 'late'})).rejects.toThrow('is closed');
        });

        it('rejects something that is not a client of this server', async () => {
            const fake = {clientId: 'x', connectPath: '/echo', user: {username: 'alice'}, loggerContext: {}, alive: true} as unknown as MashroomWebSocketClient;
            await expect(server.service.sendMessage(fake, {})).rejects.toThrow('is closed');
        });
    });
});
