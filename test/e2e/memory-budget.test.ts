import type {Socket} from 'net';
import WebSocket from 'ws';
import {startServerProcess} from '../helpers/server-process';
import type {ServerProcess} from '../helpers/server-process';
import {sessionCookie} from '../helpers/test-plugin-context';
import {tcpSocketOf} from '../helpers/socket-pair';
import {waitFor} from '../helpers/wait';
import packageJson from '../../package.json';

const MiB = 1024 * 1024;
const DEFAULT_BUDGET = Number(packageJson.mashroom.plugins[0].defaultConfig?.memoryBudgetBytes);

/*
 * The figures of issue 16: 300 connections of one user that never read while 50 KiB messages are broadcast grew the
 * resident set of the process by about 3 MiB per connection (84 to 858 MiB). Measured here with the process's
 * own figures (process.memoryUsage), in a process of its own (nothing of the test's counts).
 */
describe('memory of a server whose clients never read', () => {
    let node: ServerProcess;
    const sockets: Array<WebSocket> = [];

    afterEach(async () => {
        sockets.splice(0).forEach((socket) => socket.terminate());
        await node.stop();
    });

    it('stays within the memory budget while 300 connections of one user never read and 50 KiB messages are broadcast', async () => {
        expect(DEFAULT_BUDGET).toBe(128 * MiB);
        node = await startServerProcess('budget', {CONFIG: JSON.stringify({reconnectMessageBufferFolder: 'buffer', maxConnectionsPerUser: null})});
        for (let n = 0; n < 300; n++) {
            const socket = new WebSocket(`${node.wsOrigin}/websocket/m`, {headers: {cookie: sessionCookie('alice')}});
            await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
            // From here on it reads nothing
            (tcpSocketOf(socket) as Socket).pause();
            sockets.push(socket);
        }
        const before = (await node.ask<{memory: NodeJS.MemoryUsage}>({cmd: 'memory'})).memory.rss;
        const {peakRss, peakHeld, accepted} = await node.ask<{peakRss: number; peakHeld: number; accepted: number}>({cmd: 'broadcast', path: '/m', bytes: 50 * 1024, count: 100});

        // What the server counts passed the budget, and never its ceiling (twice the budget) by more than one turn's
        // messages
        expect(peakHeld).toBeGreaterThan(DEFAULT_BUDGET);
        expect(peakHeld).toBeLessThan(2 * DEFAULT_BUDGET + 300 * 51 * 1024);
        // Before the budget the process grew by about 800 MiB. With it, by what is counted and the garbage of
        // serialising 300 messages a turn that the collector has not taken yet (about 350 MiB)
        expect(peakRss - before).toBeLessThan(3 * DEFAULT_BUDGET + 64 * MiB);
        // Each got several before it was closed
        expect(accepted).toBeGreaterThan(5 * 300);
        // Every one of them was closed (1013) or cut off, and what was held for them is let go
        await waitFor(async () => (await node.ask<{clients: Array<{alive: boolean}>}>({cmd: 'clients'})).clients.every(({alive}) => !alive),
            'every stalled connection to be closed', 10_000);
        await waitFor(async () => (await node.ask<{held: number}>({cmd: 'memory'})).held === 0, 'nothing held', 10_000);

        // Another user is served as ever
        const other = new WebSocket(`${node.wsOrigin}/websocket/m`, {headers: {cookie: sessionCookie('bob')}});
        sockets.push(other);
        const first = await new Promise<string>((resolve, reject) => other.once('message', (data) => resolve(String(data))).once('error', reject));
        expect(JSON.parse(first)).toMatchObject({type: 'setClientId'});
    }, 60_000);
});
