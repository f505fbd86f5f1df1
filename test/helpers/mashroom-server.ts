import {spawn} from 'child_process';
import type {ChildProcess} from 'child_process';
import {copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'fs/promises';
import {createServer} from 'net';
import type {AddressInfo} from 'net';
import {tmpdir} from 'os';
import {join, resolve} from 'path';

const PACKAGE_ROOT = resolve(__dirname, '../..');
const DEMO = join(PACKAGE_ROOT, 'demo');
export const ECHO_PLUGIN = join(PACKAGE_ROOT, 'test/fixtures/echo-plugin');
const START_TIMEOUT_MS = 60_000;
/** The storage folder below the root folder */
const STORAGE = 'data/storage';

export type MashroomServerOptions = {
    /** Overrides of the "Mashroom WebSocket Webapp" config */
    readonly websocket?: Record<string, unknown>;
    /** Further plugin package folders (a folder that is a package, or one that contains packages) */
    readonly extraPluginFolders?: ReadonlyArray<string>;
    /** Sessions in files below the root folder, so that they outlive a restart (default: in memory) */
    readonly fileSessions?: boolean;
    /** Sessions in files in this folder, shared by every server given the same (implies fileSessions) */
    readonly sessionFolder?: string;
    /** A fixed port, so that a restart keeps the URL (default: a free one) */
    readonly port?: number;
    /** Environment of the server process, besides the test's own */
    readonly env?: Readonly<Record<string, string>>;
    /** Further ACL rules, besides (and over) the demo's acl.json: path expression to rule */
    readonly acl?: Readonly<Record<string, unknown>>;
    /** The config of further plugins (such as "Mashroom Portal WebApp"), by plugin name */
    readonly plugins?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
    /** A folder whose files are copied into the storage (of the Mashroom Storage Filestore Provider) before the first start */
    readonly storageFixture?: string;
};

export type RunningMashroomServer = {
    /** http://127.0.0.1:port */
    readonly httpOrigin: string;
    readonly wsOrigin: string;
    readonly rootFolder: string;
    /** Everything the server printed so far */
    output(): string;
    /** Send the process a signal and resolve once it has exited (nothing is cleaned up) */
    signal(name: NodeJS.Signals): Promise<{code: number | null; signal: NodeJS.Signals | null}>;
    /** Start a new server process on the same root folder, config and port (after this one has exited) */
    restart(): Promise<RunningMashroomServer>;
    stop(): Promise<void>;
};

/** A loopback port that is free now */
export const freePort = async (): Promise<number> => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const {port} = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
};

/**
 * A real Mashroom Server (2.8.1, with security, session, simple provider, login page, storage, i18n, browser
 * cache and messaging) in a child process, started through the demo launcher with its own config in a temp
 * folder and a free loopback port. The demo's users and ACLs are reused.
 */
export const startMashroomServer = async (options: MashroomServerOptions = {}): Promise<RunningMashroomServer> => {
    const rootFolder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-e2e-'));
    await Promise.all(['users.json', 'topicACL.json'].map((file) => copyFile(join(DEMO, file), join(rootFolder, file))));
    const demoAcl = JSON.parse(await readFile(join(DEMO, 'acl.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(rootFolder, 'acl.json'), JSON.stringify({...demoAcl, ...options.acl}, null, 2));
    if (options.storageFixture) {
        await mkdir(join(rootFolder, STORAGE), {recursive: true});
        await cp(options.storageFixture, join(rootFolder, STORAGE), {recursive: true});
    }
    await writeFile(join(rootFolder, 'log4js.json'), JSON.stringify({
        appenders: {console: {type: 'console', layout: {type: 'pattern', pattern: '%p %c - %m'}}},
        categories: {default: {appenders: ['console'], level: 'info'}},
    }));
    await writeFile(join(rootFolder, 'mashroom.json'), JSON.stringify({
        name: 'Mashroom WebSocket E2E',
        // A free port unless one is given; the launcher reports which
        port: options.port ?? 0,
        indexPage: '/websocket/test',
        pluginPackageFolders: [
            {path: PACKAGE_ROOT},
            {path: join(PACKAGE_ROOT, 'node_modules/@mashroom')},
            ...(options.extraPluginFolders ?? []).map((path) => ({path})),
        ],
        plugins: {
            'Mashroom Session Middleware': {
                provider: options.fileSessions || options.sessionFolder ? 'Mashroom Session Filestore Provider' : 'memory',
                session: {secret: 'e2e-secret'},
            },
            'Mashroom Session Filestore Provider': {path: options.sessionFolder ?? './data/sessions'},
            'Mashroom Security Services': {provider: 'Mashroom Security Simple Provider', acl: './acl.json'},
            'Mashroom Storage Filestore Provider': {dataFolder: `./${STORAGE}`},
            'Mashroom Messaging Services': {topicACL: './topicACL.json'},
            'Mashroom WebSocket Webapp': options.websocket ?? {},
            ...options.plugins,
        },
    }, null, 2));

    return launch(rootFolder, () => rm(rootFolder, {recursive: true, force: true}), options.port ?? 0, options.env ?? {});
};

/** The demo exactly as `npm start` runs it (config in demo/), on a free loopback port */
export const startDemoServer = (): Promise<RunningMashroomServer> => launch(DEMO, async () => undefined, 0, {});

const launch = async (rootFolder: string, cleanUp: () => Promise<void>, fixedPort: number, env: Readonly<Record<string, string>>): Promise<RunningMashroomServer> => {
    const child = spawn(process.execPath, [join(DEMO, 'start.js'), rootFolder], {
        env: {...process.env, ...env, PORT: String(fixedPort), HOST: '127.0.0.1', NODE_ENV: 'test'},
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const port = await new Promise<number>((resolvePort, reject) => {
        const timer = setTimeout(() => reject(new Error(`Mashroom did not start within ${START_TIMEOUT_MS / 1000}s:\n${output}`)), START_TIMEOUT_MS);
        const onData = (chunk: Buffer) => {
            output += chunk.toString();
            const ready = /READY http:\/\/localhost:(\d+)\//.exec(output);
            if (ready) {
                clearTimeout(timer);
                resolvePort(Number(ready[1]));
            }
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        child.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`Mashroom exited with code ${code} before it was ready:\n${output}`));
        });
    }).catch(async (error: unknown) => {
        await stopProcess(child, exited);
        await cleanUp();
        throw error;
    });

    return {
        httpOrigin: `http://127.0.0.1:${port}`,
        wsOrigin: `ws://127.0.0.1:${port}`,
        rootFolder,
        output: () => output,
        signal: async (name) => {
            child.kill(name);
            await exited;
            return {code: child.exitCode, signal: child.signalCode};
        },
        restart: () => launch(rootFolder, cleanUp, port, env),
        stop: async () => {
            await stopProcess(child, exited);
            await cleanUp();
        },
    };
};

const stopProcess = async (child: ChildProcess, exited: Promise<void>): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) {
        return;
    }
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
};

/** Log in through the real login form; resolves to the Cookie header of the session */
export const login = async (httpOrigin: string, username: string, password = username): Promise<string> => {
    const response = await fetch(`${httpOrigin}/login`, {
        method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams({_username: username, _password: password}).toString(),
        redirect: 'manual',
    });
    const cookies = response.headers.getSetCookie().map((cookie) => cookie.split(';')[0]);
    if (response.status !== 302 || cookies.length === 0) {
        throw new Error(`Login of ${username} failed: HTTP ${response.status}`);
    }
    return cookies.join('; ');
};
