/** Entry of nodes/triton-segment.html (the code lives in the library, see library.ts). */
import { withLibrary } from './register';

withLibrary((lib) => RED.nodes.registerType('triton-segment', lib.taskNode('segment')));
