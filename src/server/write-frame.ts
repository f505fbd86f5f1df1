import WebSocket from 'ws';

/** Send a text frame; resolves once it is handed to the operating system, rejects if the write fails. */
export const writeFrame = (socket: WebSocket, data: string): Promise<void> =>
    new Promise((resolve, reject) => {
        socket.send(data, (error) => (error ? reject(error) : resolve()));
    });

export const isOpen = (socket: WebSocket): boolean => socket.readyState === WebSocket.OPEN;
