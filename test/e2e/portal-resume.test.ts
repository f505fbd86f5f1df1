import {join} from 'path';
import {chromium} from 'playwright-core';
import type {Browser, BrowserContext, Page} from 'playwright-core';
import {freePort, login, startMashroomServer} from '../helpers/mashroom-server';
import type {MashroomServerOptions, RunningMashroomServer} from '../helpers/mashroom-server';
import {connectPublisher} from '../helpers/portal-messaging';
import type {MessagingPublisher} from '../helpers/portal-messaging';
import {startNetworkProxy} from '../helpers/portal-proxy';
import type {NetworkProxy, ProxiedHandshake} from '../helpers/portal-proxy';
import {waitFor} from '../helpers/wait';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
];
/** A site whose one page holds the Portal's Remote Messaging App (Mashroom Storage Filestore data) */
const PORTAL_SITE = join(__dirname, '../fixtures/portal-site');
/** The Remote Messaging App subscribes to the user's private topics, remote:user/<name>/# */
const SUBSCRIPTION = 'user/john/#';
const TOPIC = 'user/john/resume-check';
const CLIENT_COOKIE = 'mashroom-websocket-client';
/**
 * The Portal's client reconnects 3, 6, 9, 12 and 15 s after each failed attempt (3, 9, 18, 30, 45 s after the drop),
 * then gives up: long enough for its last attempt
 */
const PORTAL_RECONNECTS_WITHIN_MS = 50_000;
const TEST_TIMEOUT_MS = 120_000;

/** A WebSocket of the page, as the page saw it */
type PageSocket = {
    readonly url: string;
    /** The ids of `setClientId` messages, in order */
    readonly clientIds: Array<string>;
    /** The topics the server confirmed a subscription of */
    readonly subscribed: Set<string>;
    /** The `text` of each remote message received, duplicates included */
    readonly delivered: Array<string>;
    closed: boolean;
};

type PortalPage = {
    readonly page: Page;
    readonly sockets: Array<PageSocket>;
    /** How many rows of the Remote Messaging App show a received message with this text */
    shown(text: string): Promise<number>;
    /** Every remote message with this text the page received, on all its sockets */
    delivered(text: string): number;
};

type Frame = {
    readonly type?: string;
    readonly payload?: unknown;
    readonly messageId?: string;
    readonly command?: string;
    readonly topic?: string;
    readonly success?: boolean;
    readonly remoteMessage?: boolean;
    readonly message?: {readonly text?: unknown};
};

const parseFrame = (payload: string | Buffer): Frame | null => {
    try {
        const frame: unknown = JSON.parse(payload.toString());
        return typeof frame === 'object' && frame !== null ? frame as Frame : null;
    } catch {
        return null;
    }
};

const cookieValue = (handshake: ProxiedHandshake | undefined, name: string): string | null => {
    for (const pair of (handshake?.headers.cookie ?? '').split(';')) {
        const [key, ...value] = pair.trim().split('=');
        if (key === name) {
            return value.join('=');
        }
    }
    return null;
};

/*
 * A real Mashroom Portal 2.8.1 in Debian's Chromium, with the Portal's Remote Messaging App on its page, behind a
 * TCP proxy that plays the network. The Portal's messaging client puts ?clientId= into its WebSocket URL only at
 * page load, so every reconnect of a page that was not reloaded asks for no id; it resumes its client all the same
 * through the cookie of the handshake response, and a message published while the connection was down arrives
 * once it is back, exactly once, without a reload of the page.
 */
describe('the Mashroom Portal\'s remote messaging in a real browser, when its WebSocket connection drops or its server restarts', () => {
    let browser: Browser;
    let server: RunningMashroomServer | null = null;
    let restarted: RunningMashroomServer | null = null;
    let proxy: NetworkProxy | null = null;
    let context: BrowserContext | null = null;
    const publishers: Array<MessagingPublisher> = [];

    beforeAll(async () => {
        browser = await chromium.launch({executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS});
    }, 30_000);

    afterEach(async () => {
        await context?.close();
        context = null;
        publishers.splice(0).forEach((publisher) => publisher.close());
        await proxy?.close();
        proxy = null;
        const output = `${server?.output() ?? ''}${restarted?.output() ?? ''}`;
        // The restarted one first: the first one's stop removes the root folder they share
        await restarted?.stop();
        await server?.stop();
        restarted = null;
        server = null;
        expect(output).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
    });

    afterAll(async () => {
        await browser?.close();
    });

    const start = async (websocket: Record<string, unknown> = {}, more: MashroomServerOptions = {}): Promise<RunningMashroomServer> => {
        server = await startMashroomServer({
            websocket: {
                restrictToRoles: ['WebSocketUser'],
                reconnectMessageBufferFolder: './data/websocket-buffer',
                reconnectTimeoutSec: 60,
                ...websocket,
            },
            // The portal only for users who logged in, so that a visit starts at the login page
            acl: {'/portal/**': {'*': {allow: {roles: ['Authenticated']}}}},
            plugins: {'Mashroom Portal WebApp': {addDemoPages: false}},
            storageFixture: PORTAL_SITE,
            ...more,
        });
        proxy = await startNetworkProxy(Number(new URL(server.httpOrigin).port));
        return server;
    };

    /** john, through the Portal's login page, on the page with the Remote Messaging App, subscribed to his topics */
    const openPortal = async (): Promise<PortalPage> => {
        const network = proxy as NetworkProxy;
        context = await browser.newContext();
        const page = await context.newPage();
        const sockets: Array<PageSocket> = [];
        page.on('websocket', (webSocket) => {
            const socket: PageSocket = {url: webSocket.url(), clientIds: [], subscribed: new Set(), delivered: [], closed: false};
            sockets.push(socket);
            const subscribing = new Map<string, string>();
            webSocket.on('framesent', ({payload}) => {
                const frame = parseFrame(payload);
                if (frame?.command === 'subscribe' && frame.messageId && frame.topic) {
                    subscribing.set(frame.messageId, frame.topic);
                }
            });
            webSocket.on('framereceived', ({payload}) => {
                const frame = parseFrame(payload);
                if (frame?.type === 'setClientId' && typeof frame.payload === 'string') {
                    socket.clientIds.push(frame.payload);
                } else if (frame?.success && frame.messageId && subscribing.has(frame.messageId)) {
                    socket.subscribed.add(subscribing.get(frame.messageId) ?? '');
                } else if (frame?.remoteMessage && typeof frame.message?.text === 'string') {
                    socket.delivered.push(frame.message.text);
                }
            });
            webSocket.on('close', () => {
                socket.closed = true;
            });
        });

        await page.goto(`${network.origin}/portal/web/`);
        // Not logged in: the security middleware sends the browser to the login page
        await page.waitForURL(/\/login/);
        await page.fill('#username', 'john');
        await page.fill('#password', 'john');
        await Promise.all([page.waitForURL(/\/portal\/web\/$/), page.press('#password', 'Enter')]);
        // The Remote Messaging App reports its subscription of the user's topics as confirmed
        await page.locator('.mashroom-remote-messaging-app-subscription-status li', {hasText: `remote:${SUBSCRIPTION}`})
            .filter({hasText: 'Success'}).waitFor({timeout: 15_000});
        // Set in this document: gone if the page is ever reloaded
        await page.evaluate(() => {
            (globalThis as {portalResumeCheck?: string}).portalResumeCheck = 'this document';
        });

        const received = page.locator('.mashroom-remote-messaging-app-history tr');
        return {
            page,
            sockets,
            shown: (text) => received.filter({hasText: `"text": "${text}"`}).count(),
            delivered: (text) => sockets.reduce((count, socket) => count + socket.delivered.filter((delivered) => delivered === text).length, 0),
        };
    };

    const publisherFor = async (at: RunningMashroomServer): Promise<MessagingPublisher> => {
        const publisher = await connectPublisher(at.wsOrigin, await login(at.httpOrigin, 'john'));
        publishers.push(publisher);
        return publisher;
    };

    const publish = (publisher: MessagingPublisher, text: string): Promise<void> => publisher.publish(TOPIC, {text});

    /** The page got the message: the App lists it */
    const shownOnce = async (portal: PortalPage, text: string, what: string, timeoutMs = 10_000): Promise<void> => {
        await waitFor(async () => (await portal.shown(text)) > 0, what, timeoutMs);
    };

    /**
     * Cut the page's WebSocket at the proxy (the network stays down until `up`) and wait until the page notices.
     * First the page answers the ping that follows what it got: the Portal's client is a plain client, which gets
     * at least once, so a message it read but whose pong was lost with the connection would be replayed.
     */
    const dropConnection = async (portal: PortalPage): Promise<PageSocket> => {
        const network = proxy as NetworkProxy;
        const socket = portal.sockets[portal.sockets.length - 1];
        expect(network.openWebSockets()).toBe(1);
        await waitFor(() => network.acknowledged(), 'the page to answer the ping after the last message');
        expect(network.down()).toBe(1);
        await waitFor(() => socket.closed, 'the page to notice the dropped connection');
        return socket;
    };

    /** The page's own reconnect after the drop: a new WebSocket of the page that the server told its client id */
    const portalReconnect = async (portal: PortalPage, socketsBefore: number): Promise<PageSocket> => {
        await waitFor(() => portal.sockets.length > socketsBefore && portal.sockets[portal.sockets.length - 1].clientIds.length > 0,
            'the Portal client to reconnect by itself', PORTAL_RECONNECTS_WITHIN_MS);
        return portal.sockets[portal.sockets.length - 1];
    };

    /** What to say when the message published while down did not come: what the reconnect was like */
    const explainMissing = (text: string, firstId: string, reconnect: PageSocket): string => {
        const network = proxy as NetworkProxy;
        const handshake = network.handshakes[network.handshakes.length - 1];
        const cookie = cookieValue(handshake, CLIENT_COOKIE);
        return [
            `The message "${text}", published while the page's WebSocket was down, did not arrive after the Portal client reconnected by itself.`,
            `The reconnect asked for ${handshake?.url ?? '(no handshake seen)'}, ${cookie ? `with the cookie ${CLIENT_COOKIE}=${cookie}` : `without a ${CLIENT_COOKIE} cookie`}`,
            `(Cookie header: ${handshake?.headers.cookie ?? 'none'});`,
            `the server ${reconnect.clientIds[0] === firstId ? `resumed client ${firstId}` : `started a new client ${reconnect.clientIds[0]} instead of resuming ${firstId}`}.`,
        ].join(' ');
    };

    /** Wait for the message, failing with what the reconnect was like */
    const arrivesAfterReconnect = async (portal: PortalPage, text: string, firstId: string, reconnect: PageSocket): Promise<void> => {
        try {
            await shownOnce(portal, text, text);
        } catch {
            throw new Error(explainMissing(text, firstId, reconnect));
        }
    };

    /** What holds after every resume of the page: the same document, URLs without ?clientId=, the cookie, the same client */
    const expectResumedInPlace = async (portal: PortalPage, firstId: string, reconnect: PageSocket, published: string): Promise<void> => {
        const network = proxy as NetworkProxy;
        // Exactly once, on the wire and in the App, and only then what was published after it
        expect(portal.delivered(published)).toBe(1);
        expect(await portal.shown(published)).toBe(1);
        // Not reloaded: the same document, and the page's every WebSocket URL the one it built at load
        expect(await portal.page.evaluate(() => (globalThis as {portalResumeCheck?: string}).portalResumeCheck)).toBe('this document');
        const {port} = new URL(network.origin);
        expect(portal.sockets.map((socket) => socket.url)).toEqual(portal.sockets.map(() => `ws://127.0.0.1:${port}/websocket/messages`));
        expect(network.handshakes.map((handshake) => handshake.url)).toEqual(network.handshakes.map(() => '/websocket/messages'));
        // The reconnect named the client in the cookie only, came from the page's origin, and got the same client back
        const handshake = network.handshakes[network.handshakes.length - 1];
        expect(cookieValue(handshake, CLIENT_COOKIE)).toBe(firstId);
        expect(handshake.headers.origin).toBe(network.origin);
        expect(reconnect.clientIds).toEqual([firstId]);
    };

    /** What each test starts from: a server, john's Portal page, a publisher, and a first message the page shows */
    const portalWithFirstMessage = async (text: string, websocket: Record<string, unknown> = {}, more: MashroomServerOptions = {}) => {
        const first = await start(websocket, more);
        const portal = await openPortal();
        const publisher = await publisherFor(first);
        await publish(publisher, text);
        await shownOnce(portal, text, `a message ${text}`);
        return {first, portal, publisher, firstId: portal.sockets[0].clientIds[0]};
    };

    /** SIGTERM: Mashroom drains and exits as it should */
    const stopWithSigterm = async (at: RunningMashroomServer): Promise<void> => {
        expect(await at.signal('SIGTERM')).toEqual({code: 0, signal: null});
        expect(at.output()).toMatch(/Drained \d+ client\(s\) into folder/);
    };

    it('resumes the client after the network drops the connection: the message published meanwhile arrives once, with no reload', async () => {
        const {portal, publisher, firstId} = await portalWithFirstMessage('before the drop');
        expect(portal.sockets).toHaveLength(1);
        expect(firstId).toMatch(/^[0-9a-f-]{36}$/);
        // At page load the Portal client knew no id: the URL asks for none
        expect(proxy?.handshakes.map((handshake) => handshake.url)).toEqual(['/websocket/messages']);

        await dropConnection(portal);
        await publish(publisher, 'while the connection was down');
        proxy?.up();
        const reconnect = await portalReconnect(portal, 1);
        await arrivesAfterReconnect(portal, 'while the connection was down', firstId, reconnect);
        // What is published after the resume comes after what was replayed
        await publish(publisher, 'after the resume');
        await shownOnce(portal, 'after the resume', 'a message after the resume');
        await expectResumedInPlace(portal, firstId, reconnect, 'while the connection was down');
        expect(portal.sockets).toHaveLength(2);
        expect(portal.delivered('before the drop')).toBe(1);
    }, TEST_TIMEOUT_MS);

    it('resumes the client in the restarted server after a drop and a SIGTERM: the message published before the stop arrives once', async () => {
        // A fixed port, so that the restarted server is where the proxy points; sessions in files, so that the login lasts
        const {first, portal, publisher, firstId} = await portalWithFirstMessage('before the drop', {}, {fileSessions: true, port: await freePort()});

        await dropConnection(portal);
        await publish(publisher, 'before the stop');
        await stopWithSigterm(first);
        restarted = await first.restart();
        proxy?.up();
        const reconnect = await portalReconnect(portal, 1);
        await arrivesAfterReconnect(portal, 'before the stop', firstId, reconnect);
        const second = await publisherFor(restarted);
        await publish(second, 'after the restart');
        await shownOnce(portal, 'after the restart', 'a message after the restart (the Portal client subscribed again)');
        await expectResumedInPlace(portal, firstId, reconnect, 'before the stop');
        // The restart was not seen by the page as anything but failed reconnects
        expect(portal.sockets.filter((socket) => socket.clientIds.length > 0)).toHaveLength(2);
    }, TEST_TIMEOUT_MS);

    it('resumes the client in the restarted server after a drain (SIGTERM while connected, 1012): nothing published before the stop is lost or repeated', async () => {
        const {first, portal, firstId} = await portalWithFirstMessage('before the drain', {}, {fileSessions: true, port: await freePort()});
        // The Portal's client is a plain client, which gets at least once: a message it read whose pong was not back
        // before the drain would be replayed (see dropConnection)
        await waitFor(() => proxy?.acknowledged() === true, 'the page to answer the ping after the last message');

        await stopWithSigterm(first);
        // The page's connection was drained, not dropped: the server said it restarts
        expect(proxy?.serverCloseCodes).toContain(1012);
        restarted = await first.restart();
        const reconnect = await portalReconnect(portal, 1);
        expect(reconnect.clientIds).toEqual([firstId]);
        await waitFor(() => reconnect.subscribed.has(SUBSCRIPTION), 'the Portal client to subscribe again on the restarted server');
        const second = await publisherFor(restarted);
        await publish(second, 'after the restart');
        await shownOnce(portal, 'after the restart', 'a message after the restart');
        await expectResumedInPlace(portal, firstId, reconnect, 'after the restart');
        // What the page had before the drain is not replayed
        expect(portal.delivered('before the drain')).toBe(1);
        expect(await portal.shown('before the drain')).toBe(1);
    }, TEST_TIMEOUT_MS);

    it('loses the message published while down when the cookie is off (clientIdCookie: false): the reconnect starts a new client', async () => {
        const {portal, publisher, firstId} = await portalWithFirstMessage('before the drop', {clientIdCookie: false});

        await dropConnection(portal);
        await publish(publisher, 'while the connection was down');
        proxy?.up();
        const reconnect = await portalReconnect(portal, 1);
        // No cookie to name the client, and no ?clientId= in the Portal's URL: a new client
        expect(proxy?.handshakes.every((handshake) => cookieValue(handshake, CLIENT_COOKIE) === null)).toBe(true);
        expect(reconnect.clientIds).toHaveLength(1);
        expect(reconnect.clientIds[0]).not.toBe(firstId);
        // The Portal client subscribes its topics again on the new client; a marker published after that arrives
        await waitFor(() => reconnect.subscribed.has(SUBSCRIPTION), 'the Portal client to subscribe again');
        await publish(publisher, 'marker after the new subscription');
        await shownOnce(portal, 'marker after the new subscription', 'the marker');
        // ...and the message of the dropped client never did: it waits in the buffer of a client no one resumes
        expect(portal.delivered('while the connection was down')).toBe(0);
        expect(await portal.shown('while the connection was down')).toBe(0);
        expect(await portal.page.evaluate(() => (globalThis as {portalResumeCheck?: string}).portalResumeCheck)).toBe('this document');
    }, TEST_TIMEOUT_MS);
});
