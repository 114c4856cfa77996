/** Entry of nodes/triton-classify.html (the code lives in the library, see library.ts). */
import { withLibrary } from './register';

withLibrary((lib) => RED.nodes.registerType('triton-classify', lib.taskNode('classify')));
