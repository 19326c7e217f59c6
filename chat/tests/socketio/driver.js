// Drives real socket.io-client sockets for the Python tests: commands in, one JSON line per thing seen out.
//
// stdin, one JSON object a line:
//   {cmd: "connect", name, url, opts}             io(url, opts): url names the namespace (…/livestream)
//   {cmd: "emit", name, event, args, ack}         socket.emit(event, ...args[, callback]); ack names the answer
//   {cmd: "disconnect", name}
//   {cmd: "example", name, base, opts, code}      runs `code` (client code written for the browser) with
//                                                 io(path) connecting to base + path, its console.log reported
// stdout: {name, kind: "open"|"connect"|"upgrade"|"connect_error"|"disconnect"|"event"|"ack"|"log", ...}
'use strict';

const readline = require('readline');
const { io } = require('socket.io-client');

const sockets = new Map();

function out(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

function watch(name, socket) {
  sockets.set(name, socket);
  // The transport Engine.IO opened on (before any upgrade), and the upgrade when there is one.
  socket.io.on('open', () => {
    out({ name, kind: 'open', transport: socket.io.engine.transport.name });
    socket.io.engine.once('upgrade', (transport) => out({ name, kind: 'upgrade', transport: transport.name }));
  });
  socket.on('connect', () => out({ name, kind: 'connect' }));
  socket.on('connect_error', (error) => {
    out({ name, kind: 'connect_error', message: error.message, data: error.data === undefined ? null : error.data });
  });
  socket.on('disconnect', (reason) => out({ name, kind: 'disconnect', reason }));
  socket.onAny((event, ...args) => out({ name, kind: 'event', event, data: args[0] === undefined ? null : args[0] }));
}

function example(command) {
  // The page's `io` resolves a path against its own origin; here against the test server's.
  const pageIo = (path, opts) => {
    const socket = io(command.base + path, { ...command.opts, ...opts });
    watch(command.name, socket);
    return socket;
  };
  const pageConsole = {
    log: (...args) => out({ name: command.name, kind: 'log', args }),
  };
  new Function('io', 'console', command.code)(pageIo, pageConsole);
}

function run(command) {
  switch (command.cmd) {
    case 'connect':
      watch(command.name, io(command.url, command.opts || {}));
      break;
    case 'emit': {
      const socket = sockets.get(command.name);
      const args = command.args || [];
      if (command.ack) {
        socket.emit(command.event, ...args, (...answer) =>
          out({ name: command.name, kind: 'ack', id: command.ack, data: answer[0] === undefined ? null : answer[0] }),
        );
      } else {
        socket.emit(command.event, ...args);
      }
      break;
    }
    case 'disconnect':
      sockets.get(command.name).disconnect();
      break;
    case 'example':
      example(command);
      break;
    default:
      out({ kind: 'driver_error', message: `unknown command ${command.cmd}` });
  }
}

readline
  .createInterface({ input: process.stdin })
  .on('line', (line) => {
    try {
      run(JSON.parse(line));
    } catch (error) {
      out({ kind: 'driver_error', message: String(error && error.stack) });
    }
  })
  .on('close', () => process.exit(0));
out({ kind: 'ready' });
