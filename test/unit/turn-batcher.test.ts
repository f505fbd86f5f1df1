import type {Socket} from 'net';
import {TurnBatcher} from '../../src/server/turn-batcher';
import {socketPair} from '../helpers/socket-pair';
import type {SocketPair} from '../helpers/socket-pair';

describe('TurnBatcher', () => {
    let pair: SocketPair;
    const rawSocket = (): Socket => (pair.server as unknown as {_socket: Socket})._socket;

    beforeEach(async () => {
        pair = await socketPair();
    });

    afterEach(async () => {
        await pair.close();
    });

    const receive = async (count: number): Promise<Array<string>> => {
        const received: Array<string> = [];
        pair.client.on('message', (data) => received.push(data.toString()));
        while (received.length < count) {
            await new Promise(setImmediate);
        }
        return received;
    };

    it('sends the first write of a turn at once and batches the rest of the turn into one write, in order', async () => {
        const batcher = new TurnBatcher();
        const raw = rawSocket();
        const writes = jest.spyOn(raw, '_writev' as never);
        const receiving = receive(50);
        for (let n = 0; n < 50; n++) {
            const first = batcher.beforeWrite(pair.server);
            // Only the first write of the turn is the first
            expect(first).toBe(n === 0);
            pair.server.send(String(n));
        }
        // The first frame is out, the other 49 wait for the end of the turn
        expect(writes).toHaveBeenCalledTimes(1);
        expect(raw.writableCorked).toBe(1);
        await new Promise(process.nextTick);
        expect(raw.writableCorked).toBe(0);
        expect(writes).toHaveBeenCalledTimes(2);
        expect(await receiving).toEqual(Array.from({length: 50}, (_, n) => String(n)));
    });

    it('leaves a single write per turn alone', async () => {
        const batcher = new TurnBatcher();
        const raw = rawSocket();
        expect(batcher.beforeWrite(pair.server)).toBe(true);
        pair.server.send('only');
        expect(raw.writableCorked).toBe(0);
        await new Promise(process.nextTick);
        // A new turn starts afresh
        expect(batcher.beforeWrite(pair.server)).toBe(true);
        expect(await receive(1)).toEqual(['only']);
    });
});
