import {chromium} from 'playwright-core';
import type {Browser, Page} from 'playwright-core';
import {freePort, startMashroomServer} from '../helpers/mashroom-server';
import type {RunningMashroomServer} from '../helpers/mashroom-server';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
];

/*
 * The test page in Debian's Chromium against a real Mashroom Server: through the real login page to the
 * page, then Connect, Send Greeting, Disconnect and Connect again, and the same after a reload.
 */
describe('the test page in a real browser', () => {
    let server: RunningMashroomServer;
    let browser: Browser;

    beforeAll(async () => {
        server = await startMashroomServer({
            websocket: {restrictToRoles: ['WebSocketUser'], reconnectMessageBufferFolder: './data/websocket-buffer', reconnectTimeoutSec: 60},
        });
        // Playwright gives the browser a fresh, empty profile folder of its own and removes it on close
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            args: CHROMIUM_FLAGS,
        });
    }, 90_000);

    afterAll(async () => {
        await browser?.close();
        const output = server?.output() ?? '';
        await server?.stop();
        expect(output).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
    });

    const logLines = (page: Page) => page.locator('#log > div');
    /** Through the real login page to the test page */
    const openTestPage = async (page: Page): Promise<void> => {
        await page.goto(`${server.httpOrigin}/websocket/test`);
        // Not logged in: the security middleware sends the browser to the login page
        await page.waitForURL(/\/login/);
        await page.fill('#username', 'john');
        await page.fill('#password', 'john');
        await Promise.all([page.waitForURL(/\/websocket\/test/), page.press('#password', 'Enter')]);
    };

    it('logs in, connects, gets the greeting, resumes the same client after Disconnect and Connect and after a reload', async () => {
        const page = await browser.newPage();
        try {
            await openTestPage(page);

            await page.click('#connect');
            await page.locator('#state', {hasText: 'Connected'}).waitFor();
            const clientId = page.locator('#client-id');
            await clientId.filter({hasText: /^[0-9a-f-]{36}$/}).waitFor();
            const firstId = await clientId.textContent();
            await logLines(page).filter({hasText: `Connected as new client ${firstId}`}).waitFor();

            await page.click('#send-greeting');
            await logLines(page).filter({hasText: 'Received: {"greetings":"Hello John Doe!"}'}).waitFor();

            await page.click('#disconnect');
            await page.locator('#state', {hasText: 'Not connected'}).waitFor();
            await logLines(page).filter({hasText: 'Connection closed, code 1000'}).waitFor();

            await page.click('#connect');
            await page.locator('#state', {hasText: 'Connected'}).waitFor();
            // The server sent the same id again: the client was resumed
            await logLines(page).filter({hasText: `Resumed client ${firstId}`}).waitFor();
            expect(await clientId.textContent()).toBe(firstId);
            // The greeting arrived once: the library drops duplicates
            expect(await logLines(page).filter({hasText: 'Hello John Doe!'}).count()).toBe(1);

            // A reload right after a message: the page keeps how far it got as it goes away
            await page.click('#send-greeting');
            await logLines(page).filter({hasText: 'Hello John Doe!'}).nth(1).waitFor();
            await page.reload();
            await page.click('#connect');
            await logLines(page).filter({hasText: `Resumed client ${firstId}`}).waitFor();
            await page.click('#send-greeting');
            await logLines(page).filter({hasText: 'Hello John Doe!'}).waitFor();
            // Only the new greeting: nothing the page had before the reload was replayed
            expect(await logLines(page).filter({hasText: 'Hello John Doe!'}).count()).toBe(1);
        } finally {
            await page.close();
        }
    }, 60_000);

    it('keeps how far the client library got when the page goes away, though its acknowledgement was not due yet', async () => {
        const page = await browser.newPage();
        try {
            await openTestPage(page);
            // In the page (this file is compiled without the DOM's types)
            type PageGlobals = {
                sessionStorage: {getItem(key: string): string | null};
                location: {href: string};
                MashroomWebSocketClient: new (url: string, options: object) => {
                    on(event: string, listener: (event: unknown) => void): void;
                    connect(): void;
                    send(message: unknown): void;
                };
            };
            const stored = () => page.evaluate(() =>
                JSON.parse((globalThis as unknown as PageGlobals).sessionStorage.getItem('pagehide-check') ?? 'null') as {lastSeq: number} | null);
            // A client of the page's library whose acknowledgement (and storing) would come only after a minute
            await page.evaluate(() => new Promise<void>((resolve) => {
                const {MashroomWebSocketClient, location} = globalThis as unknown as PageGlobals;
                const client = new MashroomWebSocketClient(location.href.replace(/^http/, 'ws'), {storageKey: 'pagehide-check', ackDelayMs: 60_000});
                client.on('open', () => client.send({greetings: 'Hello Server!'}));
                client.on('message', () => resolve());
                client.connect();
            }));
            expect(await stored()).toMatchObject({lastSeq: 0});
            await page.reload();
            expect(await stored()).toMatchObject({lastSeq: 1});
        } finally {
            await page.close();
        }
    }, 60_000);
});

/*
 * The test page while its server is stopped with SIGTERM and started again on the same folder (sessions in
 * files): the page, not reloaded, reconnects by itself and resumes its client.
 */
describe('the test page across a restart of its server', () => {
    let server: RunningMashroomServer;
    let restarted: RunningMashroomServer | null = null;
    let browser: Browser;

    beforeAll(async () => {
        server = await startMashroomServer({
            websocket: {restrictToRoles: ['WebSocketUser'], reconnectMessageBufferFolder: './data/websocket-buffer', reconnectTimeoutSec: 60},
            fileSessions: true,
            port: await freePort(),
        });
        browser = await chromium.launch({executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS});
    }, 90_000);

    afterAll(async () => {
        await browser?.close();
        const output = `${server?.output() ?? ''}${restarted?.output() ?? ''}`;
        await restarted?.stop();
        await server?.stop();
        expect(output).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
    });

    it('shows the drain (1012) and the resume of the same client once the server is back', async () => {
        const page = await browser.newPage();
        const logLines = page.locator('#log > div');
        try {
            await page.goto(`${server.httpOrigin}/websocket/test`);
            await page.waitForURL(/\/login/);
            await page.fill('#username', 'john');
            await page.fill('#password', 'john');
            await Promise.all([page.waitForURL(/\/websocket\/test/), page.press('#password', 'Enter')]);
            await page.click('#connect');
            const clientId = page.locator('#client-id');
            await clientId.filter({hasText: /^[0-9a-f-]{36}$/}).waitFor();
            const firstId = await clientId.textContent();
            await logLines.filter({hasText: `Connected as new client ${firstId}`}).waitFor();

            expect(await server.signal('SIGTERM')).toEqual({code: 0, signal: null});
            await logLines.filter({hasText: /Connection closed, code 1012\b.* \(the server restarts and keeps this client for a resume\); reconnecting$/}).waitFor()
                .catch(async (error: unknown) => {
                    throw new Error(`${String(error)}\nThe page's log:\n${(await logLines.allTextContents()).join('\n')}`);
                });
            restarted = await server.restart();
            // The page backs off up to 13 s between attempts while the server is away; a start under load can take 20 s
            await logLines.filter({hasText: `Resumed client ${firstId}`}).waitFor({timeout: 60_000});
            expect(await page.locator('#state').textContent()).toBe('Connected');
            expect(await logLines.filter({hasText: 'could not resume'}).count()).toBe(0);
            await page.click('#send-greeting');
            await logLines.filter({hasText: 'Received: {"greetings":"Hello John Doe!"}'}).waitFor();
        } finally {
            await page.close();
        }
    }, 150_000);
});
