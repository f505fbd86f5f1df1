// @ts-check
'use strict';

/*
 * The two-node demo: npm run demo:cluster
 *
 * Starts a redis-server (Debian's, from /usr/bin or REDIS_SERVER), two Mashroom nodes with the demo config
 * that share their sessions (a folder) and the reconnect buffer (Redis), and a small round-robin proxy in
 * front of them on PORT (default 5050), which sends each request and each WebSocket to the next node in
 * turn. Open the printed URL, log in, Connect, Disconnect and Connect again: the client resumes on the other
 * node (the proxy prints which node each WebSocket goes to). Ctrl-C stops everything.
 */

const {fork, spawn} = require('child_process');
const {mkdtempSync, rmSync} = require('fs');
const http = require('http');
const net = require('net');
const {tmpdir} = require('os');
const {join} = require('path');

const PORT = Number(process.env.PORT || 5050);
const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const scratch = mkdtempSync(join(tmpdir(), 'mashroom-websocket-cluster-'));
/** @type {Array<import('child_process').ChildProcess>} */
const children = [];

/** @returns {Promise<number>} */
const freePort = () => new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
});

/**
 * @param {import('child_process').ChildProcess} child
 * @param {RegExp} ready
 * @param {string} name
 * @returns {Promise<RegExpExecArray>}
 */
const waitFor = (child, ready, name) => new Promise((resolve, reject) => {
    let output = '';
    /** @param {Buffer} chunk */
    const onData = (chunk) => {
        output += chunk.toString();
        const match = ready.exec(output);
        if (match) {
            resolve(match);
        }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with code ${code}:\n${output.slice(-2000)}`)));
});

const startRedis = async () => {
    const port = await freePort();
    const redis = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', scratch],
        {stdio: ['ignore', 'pipe', 'pipe']});
    children.push(redis);
    redis.once('error', (error) => {
        process.stderr.write(`Cannot start ${REDIS_SERVER} (apt-get install redis-server): ${error.message}\n`);
        process.exit(1);
    });
    await waitFor(redis, /Ready to accept connections/, 'redis-server');
    return `redis://127.0.0.1:${port}`;
};

/** @param {string} name @param {string} redisUrl */
const startNode = async (name, redisUrl) => {
    const port = await freePort();
    const node = fork(join(__dirname, 'start.js'), [], {
        env: {...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redisUrl, SESSION_FOLDER: join(scratch, 'sessions')},
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    children.push(node);
    await waitFor(node, /^READY /m, `node ${name}`);
    // Show what the plugin says about clients and Redis, with the node's name in front
    node.stdout?.on('data', (/** @type {Buffer} */ chunk) => {
        chunk.toString().split('\n').filter((line) => /mashroom\.websocket/.test(line)).forEach((line) => process.stdout.write(`[${name}] ${line}\n`));
    });
    return {name, port};
};

/** @param {Array<{name: string, port: number}>} nodes */
const startProxy = (nodes) => {
    let next = 0;
    const pick = () => nodes[next++ % nodes.length];
    const proxy = http.createServer((request, response) => {
        const node = pick();
        const upstream = http.request({host: '127.0.0.1', port: node.port, method: request.method, path: request.url, headers: request.headers}, (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
        });
        upstream.once('error', () => {
            response.writeHead(502);
            response.end();
        });
        request.pipe(upstream);
    });
    proxy.on('upgrade', (request, socket, head) => {
        const node = pick();
        process.stdout.write(`[proxy] WebSocket ${request.url} -> node ${node.name}\n`);
        const upstream = net.connect(node.port, '127.0.0.1', () => {
            const headers = [];
            for (let index = 0; index < request.rawHeaders.length; index += 2) {
                headers.push(`${request.rawHeaders[index]}: ${request.rawHeaders[index + 1]}`);
            }
            upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
            upstream.write(head);
            socket.pipe(upstream).pipe(socket);
        });
        upstream.once('error', () => socket.destroy());
        socket.once('error', () => upstream.destroy());
    });
    proxy.listen(PORT, process.env.HOST || '127.0.0.1');
    return proxy;
};

const stop = () => {
    children.forEach((child) => child.kill('SIGTERM'));
    setTimeout(() => {
        children.forEach((child) => child.kill('SIGKILL'));
        rmSync(scratch, {recursive: true, force: true});
        process.exit(0);
    }, 2500).unref();
};

const main = async () => {
    const redisUrl = await startRedis();
    const nodes = await Promise.all([startNode('A', redisUrl), startNode('B', redisUrl)]);
    startProxy(nodes);
    process.stdout.write(`READY http://localhost:${PORT}/websocket/test (nodes A on ${nodes[0].port}, B on ${nodes[1].port}, ${redisUrl})\n`);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
};

main().catch((error) => {
    process.stderr.write(`Starting the cluster demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    stop();
});
