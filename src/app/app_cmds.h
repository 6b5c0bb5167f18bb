/* app_cmds.h - entry points of ppq-calib subcommands implemented in src/app/cmd_*.c.
 * Each takes the arguments after the program name (argv[0] is the subcommand) and returns
 * the process exit code: 0 success, 1 bad input (message on stderr naming the file),
 * 2 usage error. */
#ifndef PQ_APP_CMDS_H
#define PQ_APP_CMDS_H

/* `ppq-calib inspect MODEL.onnx [--json]`: inputs and outputs with shapes, opset imports,
 * operator-type histogram, parameter count and bytes; --json prints the same as JSON. */
int pq_cmd_inspect(int argc, char **argv);

#endif /* PQ_APP_CMDS_H */
