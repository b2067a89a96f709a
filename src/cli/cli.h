/*
 * cli.h - the keyhold sub-commands.
 */
#ifndef KH_CLI_CLI_H
#define KH_CLI_CLI_H

int kh_cmd_serve(int argc, char **argv);
int kh_cmd_migrate(int argc, char **argv);
int kh_cmd_audit(int argc, char **argv); /* admin.c */
int kh_cmd_grant(int argc, char **argv); /* admin.c */
int kh_cmd_kes(int argc, char **argv);   /* kes.c */

#endif
