// asl-validator 4.0.0 ships no declarations; this is the part of its CommonJS export we call
// (node_modules/asl-validator/dist/src/validator.js: `module.exports = function validator(...)`).
declare module 'asl-validator' {
  interface ValidationOptions {
    readonly checkPaths: boolean;
    readonly checkArn: boolean;
  }
  interface StateMachineError {
    'Error code': string;
    Message: string;
    schemaError?: { instancePath: string; schemaPath: string; message?: string };
  }
  function aslValidator(
    definition: object,
    opts?: ValidationOptions,
  ): { isValid: boolean; errors: StateMachineError[]; errorsText: (separator?: string) => string };
  export = aslValidator;
}
