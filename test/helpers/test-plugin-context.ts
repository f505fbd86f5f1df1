import type {IncomingMessage} from 'http';
import type {
    MashroomHealthProbe,
    MashroomPluginContext,
    MashroomPluginContextHolder,
} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import {RecordingLog} from './recording-logger';

/*
 * A small hand-made Mashroom plugin context for the integration tests of the core: the real Mashroom server
 * is exercised by the end-to-end suite. What it stands in for:
 * - the session middleware: reads the `session` cookie and attaches the session, like express-session
 * - the security service: returns the session's user, like Mashroom's security service
 * - the plugin service: records onUnloadOnce/onLoadedOnce listeners so tests can fire them
 */

export const ROLE = 'WebSocketUser';

const user = (username: string, displayName: string | null, roles: Array<string>): MashroomSecurityUser => ({
    username,
    displayName,
    email: null,
    pictureUrl: null,
    extraData: null,
    roles,
    secrets: null,
});

export const USERS = {
    alice: user('alice', 'Alice Adams', [ROLE]),
    bob: user('bob', null, [ROLE]),
    carol: user('carol', 'Carol without role', []),
    // A user name that would escape the buffer folder if it ever became part of a file path
    traversal: user('../../../escape', null, [ROLE]),
} as const;

export type UserKey = keyof typeof USERS;

type SessionRequest = IncomingMessage & {session?: {user?: MashroomSecurityUser}};

const sessionToken = (cookieHeader: string | undefined): string | null => {
    const match = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader ?? '');
    return match ? decodeURIComponent(match[1]) : null;
};

export const sessionCookie = (key: UserKey): string => `session=${encodeURIComponent(`token-${key}`)}`;

type Listener = () => void;

export class TestPluginService {
    private readonly unload = new Map<string, Array<Listener>>();
    private readonly loaded = new Map<string, Array<Listener>>();

    onUnloadOnce(pluginName: string, listener: Listener): void {
        this.unload.set(pluginName, [...(this.unload.get(pluginName) ?? []), listener]);
    }

    onLoadedOnce(pluginName: string, listener: Listener): void {
        this.loaded.set(pluginName, [...(this.loaded.get(pluginName) ?? []), listener]);
    }

    fireUnload(pluginName: string): void {
        const listeners = this.unload.get(pluginName) ?? [];
        this.unload.delete(pluginName);
        listeners.forEach((listener) => listener());
    }

    fireLoaded(pluginName: string): void {
        const listeners = this.loaded.get(pluginName) ?? [];
        this.loaded.delete(pluginName);
        listeners.forEach((listener) => listener());
    }

    getPluginLoaders(): never {
        throw new Error('not available in tests');
    }

    getPlugins(): [] {
        return [];
    }

    getPluginPackages(): [] {
        return [];
    }
}

export type TestContextOptions = {
    readonly serverRootFolder: string;
    /** Leave the session middleware out of the stack */
    readonly withoutSessionMiddleware?: boolean;
    /** Delay of the session middleware, to let tests act while an upgrade is being authenticated */
    readonly sessionDelayMs?: number;
    /** Extra service namespaces (e.g. metrics) */
    readonly extraServices?: Record<string, Record<string, unknown>>;
};

export class TestPluginContext implements MashroomPluginContextHolder {

    readonly log = new RecordingLog({clientIP: '127.0.0.1'});
    readonly pluginService = new TestPluginService();
    /** The health probes registered, by plugin, as Mashroom's health probe service keeps them */
    readonly healthProbes = new Map<string, MashroomHealthProbe>();
    readonly services: Record<string, Record<string, unknown>>;
    sessionMiddlewareCalls = 0;
    private readonly context: MashroomPluginContext;
    private readonly delays = new Set<NodeJS.Timeout>();

    constructor(options: TestContextOptions) {
        const sessions = new Map<string, MashroomSecurityUser>(
            (Object.keys(USERS) as Array<UserKey>).map((key) => [`token-${key}`, USERS[key]]));
        const sessionMiddleware = (request: SessionRequest, response: unknown, next: () => void): void => {
            this.sessionMiddlewareCalls++;
            const apply = (): void => {
                const token = sessionToken(request.headers.cookie);
                const sessionUser = token ? sessions.get(token) : undefined;
                request.session = sessionUser ? {user: sessionUser} : {};
                next();
            };
            if (options.sessionDelayMs) {
                const timer = setTimeout(() => {
                    this.delays.delete(timer);
                    apply();
                }, options.sessionDelayMs);
                this.delays.add(timer);
            } else {
                apply();
            }
        };
        this.services = {
            core: {
                pluginService: this.pluginService,
                middlewareStackService: {
                    has: (name: string) => !options.withoutSessionMiddleware && name === 'Mashroom Session Middleware',
                    apply: async (name: string, request: SessionRequest, response: unknown) => {
                        if (options.withoutSessionMiddleware || name !== 'Mashroom Session Middleware') {
                            throw new Error(`No middleware plugin '${name}' found`);
                        }
                        await new Promise<void>((resolve) => sessionMiddleware(request, response, resolve));
                    },
                    getStack: () => [],
                },
                httpUpgradeService: {},
                healthProbeService: {
                    registerProbe: (forPlugin: string, probe: MashroomHealthProbe) => this.healthProbes.set(forPlugin, probe),
                    unregisterProbe: (forPlugin: string) => this.healthProbes.delete(forPlugin),
                    getProbes: () => Array.from(this.healthProbes.values()),
                },
            },
            security: {
                service: {
                    getUser: (request: SessionRequest) => request.session?.user ?? null,
                },
            },
            ...options.extraServices,
        };
        this.context = {
            serverInfo: {version: '2.8.1', devMode: false},
            serverConfig: {serverRootFolder: options.serverRootFolder} as MashroomPluginContext['serverConfig'],
            loggerFactory: this.log.factory,
            services: this.services as unknown as MashroomPluginContext['services'],
        };
    }

    getPluginContext(): MashroomPluginContext {
        return this.context;
    }

    /** Cancel session lookups still delayed (a "hanging" session store never answers within a test) */
    dispose(): void {
        this.delays.forEach((timer) => clearTimeout(timer));
        this.delays.clear();
    }
}
