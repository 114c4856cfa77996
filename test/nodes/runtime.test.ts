/**
 * Which Node-RED the node suite runs on: the devDependency (4.1) under `npm test`, and
 * Node-RED 5 under Node 22 for `npm run test:nr5`, which sets EXPECT_NODE_RED_MAJOR.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_RED_MAIN } from '../support/flows';

function packageJsonOf(main: string): { name: string; version: string } {
  let dir = path.dirname(main);
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) !== 'node-red') {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no node-red package.json above ${main}`);
    dir = up;
  }
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
}

describe('Node-RED runtime under test', () => {
  it('is the expected Node-RED major on a Node version it supports', () => {
    const pkg = packageJsonOf(NODE_RED_MAIN);
    assert.equal(pkg.name, 'node-red');
    const major = pkg.version.split('.')[0];
    assert.equal(major, process.env.EXPECT_NODE_RED_MAJOR ?? '4', `Node-RED ${pkg.version}`);
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    assert.ok(major === '5' ? nodeMajor >= 22 : nodeMajor >= 20, `Node ${process.versions.node}`);
  });
});
