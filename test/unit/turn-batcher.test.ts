import type {Socket} from 'net';
import WebSocket from 'ws';
import {EndOfTurn} from '../../src/transport/end-of-turn';
import {TurnBatcher} from '../../src/transport/turn-batcher';
import type {Batched, FramesWritten} from '../../src/transport/turn-batcher';
import {clientEvents, socketPair, tcpSocketOf, wireOpcodes} from '../helpers/socket-pair';
import type {SocketPair} from '../helpers/socket-pair';
import {waitFor} from '../helpers/wait';

describe('TurnBatcher', () => {
    const pairs: Array<SocketPair> = [];
    const pair = async (): Promise<SocketPair> => {
        const created = await socketPair();
        pairs.push(created);
        return created;
    };
    const rawSocket = (of: SocketPair): Socket => tcpSocketOf(of.server);
    // What a Connection is to the batcher, for the server side of a pair
    const connections = new Map<SocketPair, Batched>();
    const connectionOf = (of: SocketPair): Batched => {
        let connection = connections.get(of);
        if (!connection) {
            connection = {
                turn: -1,
                queued: null,
                raw: rawSocket(of),
                get writable() {
                    return of.server.readyState === WebSocket.OPEN;
                },
                terminate: () => of.server.terminate(),
            };
            connections.set(of, connection);
        }
        return connection;
    };
    const newBatcher = (): TurnBatcher => new TurnBatcher(new EndOfTurn());

    afterEach(async () => {
        await Promise.all(pairs.splice(0).map((each) => each.close()));
        connections.clear();
    });

    const record = (of: SocketPair): Array<string> => clientEvents(of.client);

    /** Send like a client does: the first frame of a turn written at once, later ones queued */
    const send = (batcher: TurnBatcher, of: SocketPair, text: string, written: FramesWritten = () => undefined): void => {
        if (batcher.beforeWrite(connectionOf(of))) {
            rawSocket(of).write(batcher.frameOf(text));
        } else {
            batcher.queue(connectionOf(of), batcher.frameOf(text), written);
        }
    };

    it('sends the first frame of a turn at once and the rest of the turn in one write at its end, in order', async () => {
        const batcher = newBatcher();
        const sockets = await pair();
        const raw = rawSocket(sockets);
        const received = record(sockets);
        const writes = jest.spyOn(raw, 'write');
        const reports: Array<[Error | null | undefined, number]> = [];
        for (let n = 0; n < 50; n++) {
            send(batcher, sockets, String(n), (error, frames) => {
            reports.push([error, frames]);
        });
        }
        // The first frame went out in one write, the other 49 wait for the end of the turn
        expect(writes).toHaveBeenCalledTimes(1);
        await new Promise(process.nextTick);
        expect(writes).toHaveBeenCalledTimes(2);
        await waitFor(() => received.length === 50);
        expect(received).toEqual(Array.from({length: 50}, (_, n) => String(n)));
        // One report for all 49, after the write
        expect(reports).toEqual([[null, 49]]);
    });

    it('leaves a single frame per turn alone, and starts every turn afresh', async () => {
        const batcher = newBatcher();
        const sockets = await pair();
        expect(batcher.beforeWrite(connectionOf(sockets))).toBe(true);
        sockets.server.send('only');
        // A second frame in the same turn is not the first
        expect(batcher.beforeWrite(connectionOf(sockets))).toBe(false);
        await new Promise(process.nextTick);
        expect(batcher.beforeWrite(connectionOf(sockets))).toBe(true);
    });

    it('writes frames that a WebSocket client reads back whatever the length form and the characters', async () => {
        const batcher = newBatcher();
        const sockets = await pair();
        const received = record(sockets);
        // 7-bit, 16-bit and 64-bit length forms at their edges, and text whose UTF-8 is longer than its characters
        const texts = ['first', '', 'a'.repeat(125), 'b'.repeat(126), 'c'.repeat(0xffff), 'd'.repeat(0x10000), 'ü€😀'.repeat(40), 'ü'.repeat(63)];
        texts.forEach((text) => send(batcher, sockets, text));
        await waitFor(() => received.length === texts.length);
        expect(received).toEqual(texts);
    });

    it('encodes a text sent to many sockets in a row once, written or queued, and gives each its frames', async () => {
        const batcher = newBatcher();
        const all = [await pair(), await pair(), await pair()];
        const received = all.map(record);
        const writes = all.map((sockets) => jest.spyOn(rawSocket(sockets), 'write'));
        const encodings = jest.spyOn(Buffer, 'byteLength');
        for (const message of ['{"k":0}', '{"k":1}']) {
            all.forEach((sockets) => send(batcher, sockets, message));
        }
        // The first message went out at once on each socket, the same bytes; the second was queued for all three
        expect(encodings.mock.calls.filter(([value]) => value === '{"k":0}')).toHaveLength(1);
        expect(encodings.mock.calls.filter(([value]) => value === '{"k":1}')).toHaveLength(1);
        encodings.mockRestore();
        const [first, ...others] = writes.map((write) => write.mock.calls[0][0]);
        others.forEach((frame) => expect(frame).toBe(first));
        await waitFor(() => received.every((messages) => messages.length === 2));
        expect(received).toEqual([['{"k":0}', '{"k":1}'], ['{"k":0}', '{"k":1}'], ['{"k":0}', '{"k":1}']]);
        // The encoding is let go at the end of the turn
        const frame = batcher.frameOf('{"k":1}');
        expect(batcher.frameOf('{"k":1}')).toBe(frame);
        await new Promise(process.nextTick);
        expect(batcher.frameOf('{"k":1}')).not.toBe(frame);
    });

    it('writes nothing of what was queued for a connection that dropped its queue', async () => {
        const batcher = newBatcher();
        const sockets = await pair();
        const received = record(sockets);
        const reports: Array<number> = [];
        ['1', '2', '3'].forEach((text) => send(batcher, sockets, text, (_, frames) => {
            reports.push(frames);
        }));
        // As a connection does when its client is done with it
        connectionOf(sockets).queued = null;
        await new Promise(process.nextTick);
        send(batcher, sockets, '4');
        sockets.server.close(1000);
        await waitFor(() => received.includes('(close 1000)'));
        expect(received).toEqual(['1', '4', '(close 1000)']);
        expect(reports).toEqual([]);
    });

    it('writes the queued frames ahead of what comes next when asked to (a ping, a close frame)', async () => {
        const batcher = newBatcher();
        const sockets = await pair();
        const received = record(sockets);
        ['1', '2', '3'].forEach((text) => send(batcher, sockets, text));
        batcher.flushConnection(connectionOf(sockets));
        sockets.server.ping();
        send(batcher, sockets, '4');
        batcher.flushConnection(connectionOf(sockets));
        sockets.server.close(1000);
        await waitFor(() => received.includes('(close 1000)'));
        expect(received).toEqual(['1', '2', '3', '(ping)', '4', '(close 1000)']);
    });

    it('does not write queued frames after the socket began to close, and reports them as failed', async () => {
        const batcher = newBatcher();
        const sockets = await pair();
        const received = record(sockets);
        const opcodes = wireOpcodes(sockets.client);
        const reports: Array<[Error | null | undefined, number]> = [];
        ['1', '2', '3'].forEach((text) => send(batcher, sockets, text, (error, frames) => {
            reports.push([error, frames]);
        }));
        // A close frame is out: nothing may follow it
        sockets.server.close(1000);
        await new Promise(process.nextTick);
        expect(reports).toEqual([[expect.objectContaining({message: 'WebSocket is not open'}), 2]]);
        await waitFor(() => received.includes('(close 1000)'));
        expect(received).toEqual(['1', '(close 1000)']);
        // Nothing on the wire after the close frame either
        expect(opcodes()).toEqual([1, 8]);
    });
});
