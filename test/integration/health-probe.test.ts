import {startTestServer, WEBAPP_PLUGIN} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';

/* The plugin's health probe, as Mashroom's /mashroom/health/ready asks it */
describe('the health probe', () => {
    let server: TestServer | null = null;

    afterEach(async () => {
        await server?.stop();
        server = null;
    });

    const check = async (running: TestServer) => {
        const probe = running.context.healthProbes.get(WEBAPP_PLUGIN);
        if (!probe) {
            throw new Error('No probe registered');
        }
        return probe.check();
    };

    it('is registered for the webapp plugin, ready while the server runs, and gone once the plugin is unloaded', async () => {
        server = await startTestServer();
        await expect(check(server)).resolves.toEqual({ready: true});
        await server.unloadPlugins();
        expect(server.context.healthProbes.has(WEBAPP_PLUGIN)).toBe(false);
    });

    it('says not ready while the reconnect buffer folder is still used by the process before, and ready once that is settled', async () => {
        server = await startTestServer();
        // The transitions a starting process goes through while the process before it still drains into the folder
        server.server.expectBufferStore();
        await expect(check(server)).resolves.toEqual({
            ready: false, error: 'Mashroom WebSocket: the reconnect buffer folder is still used by the process before this one',
        });
        server.server.bufferStoreUnavailable();
        await expect(check(server)).resolves.toEqual({ready: true});
    });

    it('says not ready while the server drains or has stopped', async () => {
        server = await startTestServer();
        const probe = server.context.healthProbes.get(WEBAPP_PLUGIN);
        await server.server.dispose();
        await expect(probe?.check()).resolves.toEqual({ready: false, error: 'Mashroom WebSocket: the server drains or has stopped'});
    });
});
