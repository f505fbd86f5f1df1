import {spawn} from 'child_process';
import type {ChildProcess} from 'child_process';
import {createServer} from 'net';
import type {AddressInfo} from 'net';
import {join} from 'path';
import Redis from 'ioredis';
import {login} from '../helpers/mashroom-server';
import {TestClient} from '../helpers/test-client';

const freePort = (): Promise<number> => new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
        const {port} = server.address() as AddressInfo;
        server.close(() => resolve(port));
    });
});

/*
 * The two-node demo of `npm run demo:cluster`: Redis, two real Mashroom nodes and the round-robin proxy. A
 * client that drops from one node resumes on the other, with what was sent to it meanwhile.
 */
describe('the two-node demo', () => {
    let demo: ChildProcess;
    let output = '';
    let origin: string;
    let redis: Redis;

    beforeAll(async () => {
        const port = await freePort();
        demo = spawn(process.execPath, [join(__dirname, '../../demo/cluster.js')], {env: {...process.env, PORT: String(port)}, stdio: ['ignore', 'pipe', 'pipe']});
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`The demo did not start:\n${output}`)), 90_000);
            const onData = (chunk: Buffer) => {
                output += chunk.toString();
                if (/^READY /m.test(output)) {
                    clearTimeout(timer);
                    resolve();
                }
            };
            demo.stdout?.on('data', onData);
            demo.stderr?.on('data', onData);
            demo.once('exit', (code) => reject(new Error(`The demo exited with ${code}:\n${output}`)));
        });
        origin = `127.0.0.1:${port}`;
        redis = new Redis(/READY \S+ \(.*(redis:\/\/[^)\s]+)\)/.exec(output)?.[1] ?? '');
    }, 120_000);

    afterAll(async () => {
        await redis?.quit();
        if (demo && demo.exitCode === null) {
            const exited = new Promise((resolve) => demo.once('exit', resolve));
            demo.kill('SIGTERM');
            await exited;
        }
        expect(output).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
    });

    it('resumes a client on the other node with the greeting that was sent while it was away', async () => {
        const cookie = await login(`http://${origin}`, 'john');
        const first = await TestClient.connect(`ws://${origin}/websocket/test`, {cookie});
        const clientId = await first.clientId();
        // The greeting comes a second later, when this connection is gone: it goes into Redis
        first.send({greetings: 'Hello Server!'});
        await first.close();
        while (await redis.llen(`mashroom-websocket-demo:buffer:${clientId}`) === 0) {
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        // The proxy sends the next WebSocket to the other node
        const second = await TestClient.connect(`ws://${origin}/websocket/test?clientId=${clientId}`, {cookie});
        expect(await second.clientId()).toBe(clientId);
        expect(await second.nextJson()).toEqual({greetings: 'Hello John Doe!'});
        await second.close();
        const routes = output.match(/\[proxy\] WebSocket \/websocket\/test\S* -> node [AB]/g) ?? [];
        expect(routes.slice(-2).map((route) => route.slice(-1)).sort()).toEqual(['A', 'B']);
        expect(output).toMatch(new RegExp(`Client ${clientId} resumed from Redis .*, where another node or the previous process left it`));
    }, 20_000);
});
