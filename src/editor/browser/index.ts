/**
 * Entry of the editor bundle (in nodes/triton-server.html): publishes the library. The
 * registrations themselves are written by src/editor/assemble.ts into each node's HTML.
 */
import { installLibrary } from './library';

installLibrary();
