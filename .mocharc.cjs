'use strict';
// Tests are TypeScript, run through tsx's CommonJS hook. Integration tests
// start real server processes on loopback, hence the generous timeout.
module.exports = {
  require: ['tsx/cjs'],
  extension: ['ts'],
  timeout: 60000,
  exit: false,
  recursive: true,
};
