import type {MashroomHealthProbeService, MashroomHealthProbeStatus, MashroomPluginContextHolder} from '@mashroom/mashroom/type-definitions';

/** What the probe asks of the server */
export type ProbedServer = {
    readonly stopped: boolean;
    readonly bufferStorePending: boolean;
};

/**
 * Whether this node should get new WebSocket connections, for Mashroom's /mashroom/health/ready (a load balancer's
 * or Kubernetes' readiness check). Not ready while it drains or has stopped (a new connection would get 503, and
 * the load balancer should send it elsewhere), and while its reconnect buffer folder is still used by the process
 * before it (a reconnect that names its client would get 503). Ready with Redis down: the node still serves every
 * connection, only resuming on another node is off, and taking all nodes out of service for that would be worse.
 */
export const probeServer = (server: ProbedServer): MashroomHealthProbeStatus => {
    if (server.stopped) {
        return {ready: false, error: 'Mashroom WebSocket: the server drains or has stopped'};
    }
    if (server.bufferStorePending) {
        return {ready: false, error: 'Mashroom WebSocket: the reconnect buffer folder is still used by the process before this one'};
    }
    return {ready: true};
};

/** Register the probe with Mashroom's health probe service; returns the function that unregisters it */
export const registerHealthProbe = (pluginName: string, contextHolder: MashroomPluginContextHolder, server: ProbedServer): (() => void) => {
    const found = contextHolder.getPluginContext().services.core.healthProbeService as Partial<MashroomHealthProbeService> | undefined;
    if (typeof found?.registerProbe !== 'function' || typeof found.unregisterProbe !== 'function') {
        // Mashroom has it since 1.x; without it there is nothing to register with
        return () => undefined;
    }
    const service = found as MashroomHealthProbeService;
    service.registerProbe(pluginName, {check: () => Promise.resolve(probeServer(server))});
    return () => service.unregisterProbe(pluginName);
};
