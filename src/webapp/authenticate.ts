import {ServerResponse} from 'http';
import type {Request, Response} from 'express';
import type {IncomingMessageWithContext, MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityService, MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';

export const SESSION_MIDDLEWARE = 'Mashroom Session Middleware';

/**
 * Find the user of an upgrade request the way Mashroom does for normal requests: an upgrade bypasses the
 * Express middleware stack, so the session middleware is applied by hand before the security service is
 * asked. Resolves to null for an anonymous request.
 */
export const authenticate = async (request: IncomingMessageWithContext, logger: MashroomLogger): Promise<MashroomSecurityUser | null> => {
    const {services} = request.pluginContext;
    const middlewareStack = services.core.middlewareStackService;
    if (middlewareStack.has(SESSION_MIDDLEWARE)) {
        // The middleware needs a response to hook into; it is never sent, the upgrade answers on the socket
        const response = new ServerResponse(request);
        await middlewareStack.apply(SESSION_MIDDLEWARE, request as unknown as Request, response as unknown as Response);
    } else {
        logger.warn(`No ${SESSION_MIDDLEWARE} found: only a security provider that needs no session can authenticate WebSocket upgrades`);
    }
    const securityService = services.security?.service as MashroomSecurityService | undefined;
    if (!securityService) {
        logger.error('The Mashroom Security Services are not loaded: refusing every WebSocket upgrade');
        return null;
    }
    const user = await securityService.getUser(request as unknown as Request);
    return user ?? null;
};
