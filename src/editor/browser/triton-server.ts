/** Entry of nodes/triton-server.html: the shared editor library and the server node. */
import { installLibrary } from './library';

RED.nodes.registerType('triton-server', installLibrary().serverNode());
