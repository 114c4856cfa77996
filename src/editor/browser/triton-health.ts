/** Entry of nodes/triton-health.html (the code lives in the library, see library.ts). */
import { withLibrary } from './register';

withLibrary((lib) => RED.nodes.registerType('triton-health', lib.healthNode()));
