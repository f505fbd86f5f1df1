import type {MashroomLogger, MashroomPluginContextHolder} from '@mashroom/mashroom/type-definitions';

// The part of @mashroom/mashroom-monitoring-metrics-collector's service that we use (the package is optional)
type ObservableCollector = {
    gauge(name: string, help: string): {set(value: number): void};
};
type MetricsCollectorService = {
    addObservableCallback(callback: (collector: ObservableCollector) => void): Promise<{removeCallback(): void}>;
};

export const METRICS_COLLECTOR_PLUGIN = 'Mashroom Monitoring Metrics Collector Services';
export const CONNECTIONS_GAUGE = 'mashroom_websocket_connections_total';

/**
 * Report the client count as an observable gauge if a metrics collector is loaded now or later.
 * Returns the function that removes it again.
 */
export const registerConnectionMetrics = (
    contextHolder: MashroomPluginContextHolder,
    clientCount: () => number,
    logger: MashroomLogger,
): (() => void) => {
    // Set to null when stopped: a listener Mashroom keeps (onLoadedOnce cannot be undone) then holds nothing
    let count: (() => number) | null = clientCount;
    let removeCallback: (() => void) | null = null;

    const register = (): void => {
        const collector = contextHolder.getPluginContext().services.metrics?.service as MetricsCollectorService | undefined;
        if (!count || !collector || typeof collector.addObservableCallback !== 'function') {
            return;
        }
        collector.addObservableCallback((observable) => {
            observable.gauge(CONNECTIONS_GAUGE, 'Mashroom WebSocket Connections Total').set(count ? count() : 0);
        }).then((ref) => {
            if (!count) {
                ref.removeCallback();
            } else {
                removeCallback = () => ref.removeCallback();
            }
        }, (error: unknown) => {
            logger.error('Registering the WebSocket connection metrics failed', error);
        });
    };

    if (contextHolder.getPluginContext().services.metrics) {
        register();
    } else {
        contextHolder.getPluginContext().services.core.pluginService.onLoadedOnce(METRICS_COLLECTOR_PLUGIN, register);
    }

    return () => {
        count = null;
        removeCallback?.();
        removeCallback = null;
    };
};
