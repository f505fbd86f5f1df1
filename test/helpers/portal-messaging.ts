import {randomUUID} from 'crypto';
import WebSocket from 'ws';

/** A client of the messaging plugin's WebSocket interface (/websocket/messages), as the Portal's client talks to it */
export type MessagingPublisher = {
    /** Publish and resolve once the server confirmed it (`{messageId, success: true}`) */
    publish(topic: string, message: unknown): Promise<void>;
    close(): void;
};

type Response = {readonly messageId?: string; readonly success?: boolean; readonly error?: boolean; readonly message?: unknown};

const RESPONSE_TIMEOUT_MS = 5000;

export const connectPublisher = async (wsOrigin: string, cookie: string): Promise<MessagingPublisher> => {
    const socket = new WebSocket(`${wsOrigin}/websocket/messages`, {headers: {cookie}});
    socket.on('error', () => undefined);
    const pending = new Map<string, (response: Response) => void>();
    socket.on('message', (data) => {
        const response = JSON.parse(data.toString()) as Response;
        if (response.messageId) {
            pending.get(response.messageId)?.(response);
        }
    });
    await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('unexpected-response', (_request, response) => reject(new Error(`Messaging WebSocket refused: HTTP ${response.statusCode}`)));
        socket.once('close', (code) => reject(new Error(`Messaging WebSocket closed before it opened: ${code}`)));
    });
    return {
        publish: (topic, message) => new Promise<void>((resolve, reject) => {
            const messageId = randomUUID();
            const timer = setTimeout(() => {
                pending.delete(messageId);
                reject(new Error(`No response to publishing to ${topic} within ${RESPONSE_TIMEOUT_MS}ms`));
            }, RESPONSE_TIMEOUT_MS);
            pending.set(messageId, (response) => {
                clearTimeout(timer);
                pending.delete(messageId);
                if (response.success) {
                    resolve();
                } else {
                    reject(new Error(`Publishing to ${topic} failed: ${JSON.stringify(response)}`));
                }
            });
            socket.send(JSON.stringify({messageId, command: 'publish', topic, message}));
        }),
        close: () => socket.terminate(),
    };
};
