import type {MashroomPluginConfig} from '@mashroom/mashroom/type-definitions';

/**
 * The validated configuration of the "Mashroom WebSocket Webapp" plugin.
 * Defaults live in the plugin definition (package.json), so every key is present when Mashroom calls us;
 * this module only checks types and ranges and fails the plugin load with one clear message otherwise.
 */
export type WebAppConfig = {
    /** Base path, without a trailing slash (e.g. `/websocket`) */
    readonly path: string;
    /** Folder of the reconnect buffer, as configured (relative to the server root folder), or null when off */
    readonly reconnectMessageBufferFolder: string | null;
    readonly reconnectTimeoutSec: number;
    /** Roles of which a user needs at least one; null when every authenticated user may connect */
    readonly restrictToRoles: ReadonlyArray<string> | null;
    readonly enableKeepAlive: boolean;
    readonly keepAliveIntervalSec: number;
    readonly maxConnections: number;
    /** At most this many clients per user; null for no limit */
    readonly maxConnectionsPerUser: number | null;
    /** Origins allowed besides the server's own; '*' allows any */
    readonly allowedOrigins: ReadonlyArray<string>;
    /** Largest incoming message; a larger one closes the connection with 1009 */
    readonly maxMessageSizeBytes: number;
    /** Messages per second a client may send in the long run (beyond a burst of incomingMessagesBurst): then 1008 */
    readonly incomingMessagesPerSec: number;
    readonly incomingMessagesBurst: number;
    /** Longest time the authentication of an upgrade may take */
    readonly upgradeTimeoutSec: number;
    /** Most bytes waiting to be sent to one client before it counts as too slow and is closed with 1013 */
    readonly maxUnsentBytesPerClient: number;
    /** Largest reconnect buffer of one client; beyond it the client cannot resume */
    readonly reconnectMessageBufferMaxBytes: number;
    /** What all reconnect buffers together may take */
    readonly reconnectMessageBufferMaxTotalBytes: number;
    /**
     * What the process may hold in memory for all clients together: messages not yet written or acknowledged, held
     * during a resume, on their way to the reconnect buffer. Beyond it the connections furthest behind get 1013
     */
    readonly memoryBudgetBytes: number;
    /** Redis for the reconnect buffer of a cluster (clients resume on any node), or null */
    readonly reconnectMessageBufferRedis: {readonly url: string; readonly keyPrefix: string} | null;
    /** Name the client in a cookie of the handshake response, so that a reconnect without `?clientId=` resumes too */
    readonly clientIdCookie: boolean;
    /**
     * Believe X-Forwarded-Host and X-Forwarded-Proto: only behind a proxy that sets them itself, replacing what a
     * client sent (anyone can send them)
     */
    readonly trustForwardedHeaders: boolean;
};

export const DEFAULT_REDIS_KEY_PREFIX = 'mashroom:websocket:';

export class WebAppConfigError extends Error {
    constructor(problems: ReadonlyArray<string>) {
        super(`Invalid configuration of the Mashroom WebSocket Webapp: ${problems.join('; ')}`);
        this.name = 'WebAppConfigError';
    }
}

const describe = (value: unknown): string => {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json;
};

export const parseWebAppConfig = (raw: MashroomPluginConfig): WebAppConfig => {
    const problems: Array<string> = [];

    const path = parsePath(raw.path, problems);

    const folder = raw.reconnectMessageBufferFolder;
    let reconnectMessageBufferFolder: string | null = null;
    if (typeof folder === 'string' && folder.trim() !== '') {
        reconnectMessageBufferFolder = folder;
    } else if (folder !== null && folder !== undefined && folder !== '') {
        problems.push(`reconnectMessageBufferFolder must be a folder name or null (got ${describe(folder)})`);
    }

    const roles = raw.restrictToRoles;
    let restrictToRoles: ReadonlyArray<string> | null = null;
    if (Array.isArray(roles) && roles.every((role) => typeof role === 'string')) {
        restrictToRoles = roles.length > 0 ? [...roles] : null;
    } else if (typeof roles === 'string' && roles !== '') {
        restrictToRoles = [roles];
    } else if (roles !== null && roles !== undefined) {
        problems.push(`restrictToRoles must be a list of role names or null (got ${describe(roles)})`);
    }

    const enableKeepAlive = raw.enableKeepAlive;
    if (typeof enableKeepAlive !== 'boolean') {
        problems.push(`enableKeepAlive must be true or false (got ${describe(enableKeepAlive)})`);
    }

    const clientIdCookie = raw.clientIdCookie;
    if (clientIdCookie !== undefined && typeof clientIdCookie !== 'boolean') {
        problems.push(`clientIdCookie must be true or false (got ${describe(clientIdCookie)})`);
    }

    const trustForwardedHeaders = raw.trustForwardedHeaders;
    if (trustForwardedHeaders !== undefined && typeof trustForwardedHeaders !== 'boolean') {
        problems.push(`trustForwardedHeaders must be true or false (got ${describe(trustForwardedHeaders)})`);
    }

    const config: WebAppConfig = {
        path,
        reconnectMessageBufferFolder,
        reconnectTimeoutSec: parseNumber(raw, 'reconnectTimeoutSec', {min: 0}, problems),
        restrictToRoles,
        enableKeepAlive: enableKeepAlive === true,
        keepAliveIntervalSec: parseNumber(raw, 'keepAliveIntervalSec', {min: 0, exclusiveMin: true}, problems),
        maxConnections: parseNumber(raw, 'maxConnections', {min: 0, integer: true}, problems),
        maxConnectionsPerUser: raw.maxConnectionsPerUser === null ? null : parseNumber(raw, 'maxConnectionsPerUser', {min: 1, integer: true}, problems),
        allowedOrigins: parseOrigins(raw.allowedOrigins, problems),
        maxMessageSizeBytes: parseNumber(raw, 'maxMessageSizeBytes', {min: 1, integer: true}, problems),
        incomingMessagesPerSec: parseNumber(raw, 'incomingMessagesPerSec', {min: 1}, problems),
        incomingMessagesBurst: parseNumber(raw, 'incomingMessagesBurst', {min: 1, integer: true}, problems),
        upgradeTimeoutSec: parseNumber(raw, 'upgradeTimeoutSec', {min: 0, exclusiveMin: true}, problems),
        maxUnsentBytesPerClient: parseNumber(raw, 'maxUnsentBytesPerClient', {min: 1, integer: true}, problems),
        reconnectMessageBufferMaxBytes: parseNumber(raw, 'reconnectMessageBufferMaxBytes', {min: 1, integer: true}, problems),
        reconnectMessageBufferMaxTotalBytes: parseNumber(raw, 'reconnectMessageBufferMaxTotalBytes', {min: 1, integer: true}, problems),
        memoryBudgetBytes: parseNumber(raw, 'memoryBudgetBytes', {min: 1, integer: true}, problems),
        reconnectMessageBufferRedis: parseRedis(raw.reconnectMessageBufferRedis, problems),
        clientIdCookie: clientIdCookie !== false,
        trustForwardedHeaders: trustForwardedHeaders === true,
    };
    if (problems.length > 0) {
        throw new WebAppConfigError(problems);
    }
    return config;
};

const parseRedis = (value: unknown, problems: Array<string>): WebAppConfig['reconnectMessageBufferRedis'] => {
    if (value === null || value === undefined) {
        return null;
    }
    const {url, keyPrefix} = (typeof value === 'object' ? value : {}) as {url?: unknown; keyPrefix?: unknown};
    if (typeof url !== 'string' || !/^rediss?:\/\/./.test(url)) {
        problems.push(`reconnectMessageBufferRedis must be null or {"url": "redis://host:6379", "keyPrefix": "..."} (got ${describe(value)})`);
        return null;
    }
    if (keyPrefix !== undefined && (typeof keyPrefix !== 'string' || keyPrefix === '')) {
        problems.push(`reconnectMessageBufferRedis.keyPrefix must be a non-empty string (got ${describe(keyPrefix)})`);
        return null;
    }
    return {url, keyPrefix: keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX};
};

const parseOrigins = (value: unknown, problems: Array<string>): ReadonlyArray<string> => {
    if (value === null || value === undefined) {
        return [];
    }
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((entry) => typeof entry === 'string')) {
        problems.push(`allowedOrigins must be a list of origins (like "https://portal.example.com"), "*" or null (got ${describe(value)})`);
        return [];
    }
    const origins: Array<string> = [];
    for (const entry of list) {
        if (entry === '*') {
            origins.push(entry);
            continue;
        }
        try {
            const origin = new URL(entry).origin;
            if (origin === 'null') {
                throw new Error('opaque');
            }
            origins.push(origin);
        } catch {
            problems.push(`allowedOrigins entry ${describe(entry)} is not an origin like "https://portal.example.com"`);
        }
    }
    return origins;
};

const parsePath = (value: unknown, problems: Array<string>): string => {
    if (typeof value !== 'string' || !value.startsWith('/')) {
        problems.push(`path must start with a slash (got ${describe(value)})`);
        return '';
    }
    const path = value.replace(/\/+$/, '');
    if (path === '') {
        problems.push('path must not be the root path "/"');
    } else if (/[?#\s]/.test(path)) {
        problems.push(`path must be a plain URL path without query, fragment or white space (got ${describe(value)})`);
    }
    return path;
};

type NumberRule = {
    readonly min: number;
    readonly exclusiveMin?: boolean;
    readonly integer?: boolean;
};

const parseNumber = (raw: MashroomPluginConfig, key: string, rule: NumberRule, problems: Array<string>): number => {
    const value: unknown = raw[key];
    const valid = typeof value === 'number' && Number.isFinite(value) &&
        (rule.exclusiveMin ? value > rule.min : value >= rule.min) &&
        (!rule.integer || Number.isInteger(value));
    if (!valid) {
        const expected = `${rule.integer ? 'a whole number' : 'a number'} ${rule.exclusiveMin ? '>' : '>='} ${rule.min}`;
        problems.push(`${key} must be ${expected} (got ${describe(value)})`);
        return rule.min;
    }
    return value;
};
