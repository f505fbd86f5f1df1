import {TurnBatcher} from '../../src/server/turn-batcher';
import {socketPair} from '../helpers/socket-pair';
import type {SocketPair} from '../helpers/socket-pair';

describe('TurnBatcher', () => {
    let pair: SocketPair;

    afterEach(async () => {
        await pair.close();
    });

    it('writes everything sent to a socket within one turn in one go, in order, at the end of the turn', async () => {
        pair = await socketPair();
        const batcher = new TurnBatcher();
        const raw = (pair.server as unknown as {_socket: import('net').Socket})._socket;
        const writev = jest.spyOn(raw, '_writev' as never);
        const received: Array<string> = [];
        pair.client.on('message', (data) => received.push(data.toString()));

        expect(batcher.cork(pair.server)).toBe(true);
        for (let n = 0; n < 50; n++) {
            pair.server.send(String(n));
            // Only the first write of the turn is the first
            expect(batcher.cork(pair.server)).toBe(false);
        }
        expect(raw.writableCorked).toBe(1);
        await new Promise(process.nextTick);
        expect(raw.writableCorked).toBe(0);
        expect(writev).toHaveBeenCalledTimes(1);
        while (received.length < 50) {
            await new Promise(setImmediate);
        }
        expect(received).toEqual(Array.from({length: 50}, (_, n) => String(n)));
        // A new turn starts afresh
        expect(batcher.cork(pair.server)).toBe(true);
        batcher.flush();
        expect(raw.writableCorked).toBe(0);
    });
});
