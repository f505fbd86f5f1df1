import {mkdir, mkdtemp, rm, symlink, writeFile} from 'fs/promises';
import {tmpdir} from 'os';
import {join, resolve} from 'path';
import ts from 'typescript';

const PACKAGE_ROOT = resolve(__dirname, '../..');

/*
 * A consumer plugin's view: the package installed under node_modules, its types imported by package name.
 */
describe('@mashroom/mashroom-websocket/type-definitions', () => {
    let consumer: string;

    beforeAll(async () => {
        consumer = await mkdtemp(join(tmpdir(), 'mashroom-websocket-consumer-'));
        await mkdir(join(consumer, 'node_modules/@mashroom'), {recursive: true});
        await symlink(PACKAGE_ROOT, join(consumer, 'node_modules/@mashroom/mashroom-websocket'), 'dir');
        await symlink(join(PACKAGE_ROOT, 'node_modules/@mashroom/mashroom-security'), join(consumer, 'node_modules/@mashroom/mashroom-security'), 'dir');
    });

    afterAll(async () => {
        await rm(consumer, {recursive: true, force: true});
    });

    const compile = async (source: string): Promise<Array<string>> => {
        const file = join(consumer, 'plugin.ts');
        await writeFile(file, source);
        // The declaration files themselves are checked by the project's type check; here only their use
        const program = ts.createProgram([file], {
            strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'],
            module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
        });
        return ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    };

    it('resolves at run time', () => {
        const resolved = require.resolve('@mashroom/mashroom-websocket/type-definitions', {paths: [consumer]});
        expect(resolved).toBe(join(PACKAGE_ROOT, 'type-definitions/index.js'));
        expect(require(resolved)).toEqual({});
    });

    it('exports the service, client, matcher and listener types, usable the way plugins use them', async () => {
        expect(await compile(`
            import type {
                MashroomWebSocketClient, MashroomWebSocketDisconnectListener, MashroomWebSocketMatcher,
                MashroomWebSocketMessageListener, MashroomWebSocketService,
            } from '@mashroom/mashroom-websocket/type-definitions';

            export const use = (service: MashroomWebSocketService): void => {
                const matcher: MashroomWebSocketMatcher = (connectPath, message) => connectPath === '/chat' && message.type === 'x';
                const listener: MashroomWebSocketMessageListener = async (message, client) => {
                    await service.sendMessage(client, {echo: message.text, user: client.user.username});
                };
                const known = new Map<MashroomWebSocketClient, number>();
                const onGone: MashroomWebSocketDisconnectListener = (client) => known.delete(client);
                service.addMessageListener(matcher, listener);
                service.addDisconnectListener(onGone);
                const clients: Array<MashroomWebSocketClient> = [...service.getClientsOnPath('/chat'), ...service.getClientsOfUser('john')];
                const count: number = service.getClientCount() + clients.length;
                const base: string = service.basePath;
                clients.forEach((client) => {
                    const id: string = client.clientId;
                    const alive: boolean = client.alive;
                    service.close(client);
                    return [id, alive, count, base, client.loggerContext, client.connectPath];
                });
            };
        `)).toEqual([]);
    });

    it('catches a wrong use', async () => {
        const errors = await compile(`
            import type {MashroomWebSocketService} from '@mashroom/mashroom-websocket/type-definitions';
            export const use = (service: MashroomWebSocketService): void => {
                service.sendMessage('not a client', {});
                service.basePath = '/other';
            };
        `);
        expect(errors).toEqual([
            expect.stringContaining("not assignable to parameter of type 'MashroomWebSocketClient'"),
            expect.stringContaining("Cannot assign to 'basePath' because it is a read-only property"),
        ]);
    });
});
