import type {MashroomServicesPluginBootstrapFunction} from '@mashroom/mashroom/type-definitions';
import {currentServer} from '../server/server-slot';
import {registerTestGreeting} from './test-greeting';
import {WebSocketService} from './websocket-service';

const bootstrap: MashroomServicesPluginBootstrapFunction = async (pluginName, pluginConfig, contextHolder) => {
    const {loggerFactory, services} = contextHolder.getPluginContext();
    const service = new WebSocketService(currentServer);
    const stopTestGreeting = registerTestGreeting(service, loggerFactory('mashroom.websocket.service'));
    services.core.pluginService.onUnloadOnce(pluginName, stopTestGreeting);
    return {service};
};

export default bootstrap;
