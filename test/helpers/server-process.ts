import {fork} from 'child_process';
import type {ChildProcess} from 'child_process';
import {join} from 'path';

/** A server with the plugin (from dist/) in a process of its own, driven over IPC (see cluster-node.js) */
export type ServerProcess = {
    readonly name: string;
    readonly wsOrigin: string;
    ask<T extends object>(command: Record<string, unknown>): Promise<T>;
    stop(): Promise<void>;
};

let nextId = 0;

/** Start one; `env` configures it (see cluster-node.js) */
export const startServerProcess = async (name: string, env: Record<string, string>): Promise<ServerProcess> => {
    const child: ChildProcess = fork(join(__dirname, 'cluster-node.js'), [], {
        env: {...process.env, ...env},
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const waiting = new Map<number, (answer: Record<string, unknown>) => void>();
    const ready = new Promise<number>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`Node ${name} exited with ${code}`)));
        child.on('message', (message: Record<string, unknown>) => {
            if (message.ready) {
                resolve(Number(message.port));
            } else {
                waiting.get(Number(message.id))?.(message);
            }
        });
    });
    const port = await ready;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ask = <T extends object>(command: Record<string, unknown>): Promise<T> => new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (answer) => (answer.error ? reject(new Error(String(answer.error))) : resolve(answer as T)));
        child.send({...command, id});
    });
    return {
        name,
        wsOrigin: `ws://127.0.0.1:${port}`,
        ask,
        stop: async () => {
            if (child.exitCode === null) {
                await ask({cmd: 'stop'}).catch(() => undefined);
                await exited;
            }
        },
    };
};
