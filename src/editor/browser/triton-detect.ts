/** Entry of nodes/triton-detect.html (the code lives in the library, see library.ts). */
import { withLibrary } from './register';

withLibrary((lib) => RED.nodes.registerType('triton-detect', lib.taskNode('detect')));
