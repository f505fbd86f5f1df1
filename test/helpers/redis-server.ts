import {spawn} from 'child_process';
import type {ChildProcess} from 'child_process';
import {mkdtemp, rm} from 'fs/promises';
import {createServer} from 'net';
import type {AddressInfo} from 'net';
import {tmpdir} from 'os';
import {join} from 'path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export type RunningRedis = {
    readonly port: number;
    readonly url: string;
    /** Stop the server (the port stays ours for a restart) */
    stop(): Promise<void>;
    /** Start it again on the same port, empty */
    start(): Promise<void>;
    /** Stop it for good and remove its folder */
    dispose(): Promise<void>;
};

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
        const {port} = server.address() as AddressInfo;
        server.close(() => resolve(port));
    });
});

/** A real redis-server (Debian's package) of the test's own, on a free loopback port, without persistence */
export const startRedis = async (): Promise<RunningRedis> => {
    const port = await freePort();
    const folder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-redis-'));
    let child: ChildProcess | null = null;

    const start = async (): Promise<void> => {
        const process = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', folder],
            {stdio: ['ignore', 'pipe', 'pipe']});
        child = process;
        await new Promise<void>((resolve, reject) => {
            let output = '';
            const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
            process.stdout?.on('data', (chunk: Buffer) => {
                output += chunk.toString();
                if (output.includes('Ready to accept connections')) {
                    clearTimeout(timer);
                    resolve();
                }
            });
            process.once('exit', (code) => {
                clearTimeout(timer);
                reject(new Error(`redis-server exited with ${code}:\n${output}`));
            });
        });
    };
    const stop = async (): Promise<void> => {
        const running = child;
        child = null;
        if (running && running.exitCode === null) {
            const exited = new Promise((resolve) => running.once('exit', resolve));
            running.kill('SIGKILL');
            await exited;
        }
    };
    await start();
    return {
        port,
        url: `redis://127.0.0.1:${port}`,
        start,
        stop,
        dispose: async () => {
            await stop();
            await rm(folder, {recursive: true, force: true});
        },
    };
};
