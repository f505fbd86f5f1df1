import {randomUUID} from 'crypto';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {Redis, RedisOptions} from 'ioredis';
import {isClientId} from '../protocol/client-id';
import {decodeRecords, encodeRecord} from './buffer-record';
import {BufferClaimedError, BufferLostError} from './reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore, SealedClient} from './reconnect-buffer-store';

export type RedisStoreConfig = {
    /** redis://[user:password@]host:port[/db] or rediss:// */
    readonly url: string;
    readonly keyPrefix: string;
};

/*
 * Per client that waits for a reconnect, both expiring with its reconnect window (timed by Redis, not by the
 * nodes' clocks), so nothing outlives it:
 *   <prefix>session:<clientId>  hash: owner (node), state (waiting | claimed), username, connectPath,
 *                               sequenced, lastSeq, count (messages appended)
 *   <prefix>buffer:<clientId>   list of frames, oldest first
 * and the channel <prefix>claimed, on which a node announces "<clientId> <previous owner> <new owner>".
 * Every change that depends on who holds a session is one Lua script, so it is atomic.
 */

// KEYS: session, buffer. ARGV: node, ttl (ms), username, connectPath, sequenced, lastSeq, state, frames...
// The client starts waiting, with the frames its connection had not acknowledged: in state 'waiting' it can be
// claimed; 'opening' while more frames follow (APPEND with finish = 1 ends it), so that no claim finds a part.
// Returns 1, -1 if another node holds the session, -2 if its list is not what was appended
const OPEN = `
local session = redis.call('HMGET', KEYS[1], 'owner', 'count')
if session[1] and session[1] ~= ARGV[1] then return -1 end
if not session[1] then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'username', ARGV[3], 'connectPath', ARGV[4], 'sequenced', ARGV[5], 'count', 0)
elseif redis.call('LLEN', KEYS[2]) ~= tonumber(session[2]) then
  return -2
end
if #ARGV > 7 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 8))
  redis.call('HINCRBY', KEYS[1], 'count', #ARGV - 7)
end
redis.call('HSET', KEYS[1], 'state', ARGV[7], 'lastSeq', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`;

// KEYS: session, buffer. ARGV: node, continuing, finish, frames... Returns the new count, -1 if another node
// holds the session (or none does), -2 if the list is not what was appended. finish = 1: the last frames of
// an OPEN, the client can be claimed from now on
const APPEND = `
local session = redis.call('HMGET', KEYS[1], 'owner', 'count')
if session[1] ~= ARGV[1] then return -1 end
if ARGV[2] == '1' and redis.call('LLEN', KEYS[2]) ~= tonumber(session[2]) then return -2 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1))
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'state', 'waiting') end
return redis.call('HINCRBY', KEYS[1], 'count', #ARGV - 3)`;

// KEYS: session, buffer. ARGV: node, username, connectPath, sequenced, channel, clientId.
// Returns {status, lastSeq, count, frames}: 1 claimed, 0 none (or already claimed), -1 another user, -2 another
// connect path or protocol
const CLAIM = `
local session = redis.call('HMGET', KEYS[1], 'owner', 'state', 'username', 'connectPath', 'sequenced', 'lastSeq', 'count')
if not session[1] or session[2] ~= 'waiting' then return {0} end
if session[3] ~= ARGV[2] then return {-1} end
if session[4] ~= ARGV[3] or session[5] ~= ARGV[4] then return {-2} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', 'claimed')
if session[1] ~= ARGV[1] then redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' ' .. session[1] .. ' ' .. ARGV[1]) end
return {1, session[6], session[7], redis.call('LRANGE', KEYS[2], 0, -1)}`;

// KEYS: session, buffer. ARGV: node
const REMOVE = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) return 1 end
return 0`;

// Lua passes at most a few thousand arguments to a command: append in slices
const APPEND_SLICE = 1000;

type RedisWithScripts = Redis & {
    wsOpen(session: string, buffer: string, ...args: Array<string | number>): Promise<number>;
    wsAppend(session: string, buffer: string, ...args: Array<string>): Promise<number>;
    wsClaim(session: string, buffer: string, ...args: Array<string>): Promise<[number, string?, string?, Array<string>?]>;
    wsRemove(session: string, buffer: string, node: string): Promise<number>;
};

const defineScripts = (redis: Redis): RedisWithScripts => {
    redis.defineCommand('wsOpen', {numberOfKeys: 2, lua: OPEN});
    redis.defineCommand('wsAppend', {numberOfKeys: 2, lua: APPEND});
    redis.defineCommand('wsClaim', {numberOfKeys: 2, lua: CLAIM});
    redis.defineCommand('wsRemove', {numberOfKeys: 2, lua: REMOVE});
    return redis as RedisWithScripts;
};

/** The URL without a password, for log lines */
const displayUrl = (url: string): string => url.replace(/\/\/([^@/]*)@/, '//***@');

/**
 * Buffers in Redis, shared by every node of a cluster: a client that dropped from one node may resume on
 * any other. While Redis is unreachable the store says it is unavailable (clients that drop are not kept,
 * resumes start afresh) and every operation fails at once rather than waiting; it recovers by itself.
 */
export class RedisReconnectBufferStore implements ReconnectBufferStore {

    // This node, as owner of the sessions it holds
    private readonly node = randomUUID();
    private readonly claimedListeners: Array<(clientId: string) => void> = [];
    // null until both connections were ready once or one of them failed
    private wasAvailable: boolean | null = null;
    private closing = false;

    private constructor(
        private readonly redis: RedisWithScripts,
        private readonly subscriber: Redis,
        private readonly config: RedisStoreConfig,
        private readonly logger: MashroomLogger,
    ) {
        const channel = this.channel;
        subscriber.on('message', (receivedOn: string, message: string) => {
            if (receivedOn === channel) {
                this.onClaimed(message);
            }
        });
        for (const connection of [redis, subscriber]) {
            // Without a listener an 'error' event would crash the process; the state changes are logged below
            connection.on('error', () => undefined);
            connection.on('ready', () => this.checkAvailability());
            connection.on('close', () => this.checkAvailability());
        }
        subscriber.subscribe(channel).catch(() => {
            // Resubscribed automatically once connected
        });
    }

    /**
     * Connect to Redis (the ioredis package is loaded here, only when a Redis store is configured). Does not
     * wait for the connection: a Redis that is down at start comes into use when it is up.
     */
    static create(config: RedisStoreConfig, logger: MashroomLogger): RedisReconnectBufferStore {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const IORedis = (require('ioredis') as {default: new (url: string, options: RedisOptions) => Redis}).default;
        const options: RedisOptions = {
            // Fail at once while disconnected instead of queueing: a send must not wait for Redis
            enableOfflineQueue: false,
            maxRetriesPerRequest: 1,
            connectTimeout: 5000,
            // A Redis that stops answering must not hold a resume (or a send) for ever
            commandTimeout: 5000,
            retryStrategy: (times) => Math.min(times * 200, 2000),
        };
        const redis = defineScripts(new IORedis(config.url, options));
        const subscriber = new IORedis(config.url, {...options, enableOfflineQueue: true});
        return new RedisReconnectBufferStore(redis, subscriber, config, logger);
    }

    get description(): string {
        return `Redis ${displayUrl(this.config.url)}, key prefix ${this.config.keyPrefix}`;
    }

    get available(): boolean {
        return this.redis.status === 'ready' && this.subscriber.status === 'ready';
    }

    async open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>): Promise<void> {
        const [sessionKey, bufferKey] = this.keysOf(clientId);
        const records = messages.map(encodeRecord);
        const first = records.slice(0, APPEND_SLICE);
        const rest = records.slice(APPEND_SLICE);
        const result = await this.redis.wsOpen(sessionKey, bufferKey, this.node, Math.max(1, Math.ceil(ttlMs)), session.username,
            session.connectPath, session.sequenced ? '1' : '0', session.lastSeq, rest.length > 0 ? 'opening' : 'waiting', ...first);
        this.check(clientId, result);
        await this.appendSlices(clientId, rest, true, true);
    }

    async append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        await this.appendSlices(clientId, messages.map(encodeRecord), continuing, false);
    }

    async claim(clientId: string, claimant: BufferedSession): Promise<ClaimedBuffer | null> {
        const [sessionKey, bufferKey] = this.keysOf(clientId);
        const [status, lastSeq, count, frames] = await this.redis.wsClaim(sessionKey, bufferKey, this.node, claimant.username,
            claimant.connectPath, claimant.sequenced ? '1' : '0', this.channel, clientId);
        if (status !== 1) {
            if (status === -1) {
                this.logger.warn(`User ${claimant.username} asked to resume client ${clientId}, which belongs to another user: starting a new client`);
            }
            return null;
        }
        const messages = decodeRecords(frames ?? []);
        if (!messages) {
            throw new BufferLostError(clientId, 'a message in its list in Redis does not verify (changed)');
        }
        return {
            messages,
            recorded: Number(count),
            session: {...claimant, lastSeq: Number(lastSeq) || 0},
        };
    }

    async remove(clientId: string): Promise<void> {
        const [sessionKey, bufferKey] = this.keysOf(clientId);
        await this.redis.wsRemove(sessionKey, bufferKey, this.node);
    }

    async clear(): Promise<void> {
        // Sessions of other nodes must stay; those of a previous process of this one expire by themselves
    }

    async waits(clientId: string, claimant: Pick<BufferedSession, 'username' | 'connectPath'>): Promise<boolean> {
        const [state, username, connectPath] = await this.redis.hmget(this.keysOf(clientId)[0], 'state', 'username', 'connectPath');
        return state === 'waiting' && username === claimant.username && connectPath === claimant.connectPath;
    }

    mayHold(): boolean {
        // Any node may have let it go into Redis; the claim finds out
        return this.available;
    }

    async restore(): Promise<number> {
        // What a drain left here is claimed by whichever node a client reconnects to
        return 0;
    }

    async seal(clients: ReadonlyArray<SealedClient>): Promise<ReadonlyArray<string>> {
        // Every session and buffer is in Redis already, expiring with its reconnect window
        return clients.map(({clientId}) => clientId);
    }

    onClaimedElsewhere(listener: (clientId: string) => void): void {
        this.claimedListeners.push(listener);
    }

    async close(): Promise<void> {
        this.closing = true;
        this.claimedListeners.length = 0;
        await Promise.all([this.redis, this.subscriber].map(async (connection) => {
            try {
                await connection.quit();
            } catch {
                connection.disconnect();
            }
        }));
    }

    /** Append in slices (Lua takes a few thousand arguments at most); `finish`: the last slice ends an OPEN */
    private async appendSlices(clientId: string, messages: ReadonlyArray<string>, continuing: boolean, finish: boolean): Promise<void> {
        const [sessionKey, bufferKey] = this.keysOf(clientId);
        for (let start = 0; start < messages.length; start += APPEND_SLICE) {
            const slice = messages.slice(start, start + APPEND_SLICE);
            const last = start + APPEND_SLICE >= messages.length;
            this.check(clientId, await this.redis.wsAppend(sessionKey, bufferKey, this.node, continuing || start > 0 ? '1' : '0',
                finish && last ? '1' : '0', ...slice));
        }
    }

    /** The answer of OPEN and APPEND */
    private check(clientId: string, result: number): void {
        if (result === -1) {
            throw new BufferClaimedError(clientId);
        }
        if (result === -2) {
            throw new BufferLostError(clientId, 'its list in Redis is not what was appended (evicted?)');
        }
    }

    private get channel(): string {
        return `${this.config.keyPrefix}claimed`;
    }

    private keysOf(clientId: string): [string, string] {
        if (!isClientId(clientId)) {
            throw new Error(`Refusing '${clientId.slice(0, 60)}' as a key: not a client id`);
        }
        return [`${this.config.keyPrefix}session:${clientId}`, `${this.config.keyPrefix}buffer:${clientId}`];
    }

    private onClaimed(message: string): void {
        const [clientId, previousOwner, newOwner] = message.split(' ');
        if (previousOwner === this.node && newOwner !== this.node) {
            this.claimedListeners.forEach((listener) => listener(clientId));
        }
    }

    /**
     * Log each change between reachable and unreachable once. Called when a connection is ready or closed:
     * while the first of the two is ready and the other still connecting nothing has changed yet.
     */
    private checkAvailability(): void {
        if (this.closing) {
            return;
        }
        const available = this.available;
        if (available === this.wasAvailable) {
            return;
        }
        const failed = [this.redis, this.subscriber].some((connection) => connection.status !== 'ready' && connection.status !== 'connecting' && connection.status !== 'connect');
        if (available) {
            this.logger.info(`Resuming on any node is on: ${this.description} is reachable`);
        } else if (failed) {
            this.logger.error(`Resuming is off while ${this.description} is unreachable: clients that drop are not kept`);
        } else {
            return;
        }
        this.wasAvailable = available;
    }
}
