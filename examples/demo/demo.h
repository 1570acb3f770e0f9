/*
 * demo.h - the demo program as a function, for its two entry points:
 * entry.c (contrastive-demo, one process) and examples/demo-mpi/main.c
 * (contrastive-demo-mpi, one rank of a data-parallel run).
 */
#ifndef DEMO_DEMO_H
#define DEMO_DEMO_H

#include <contrastive.h>

/* Parses argv, trains, evaluates and reports. comm NULL: one process.
 * Otherwise every rank of comm calls it with the same arguments: each
 * trains on its share of every global batch, rank 0 evaluates, writes
 * the report and prints the RESULT line; the others print nothing on
 * stdout. Returns the exit status (0 ok, 1 failure, 2 bad options). */
int demo_run(int argc, char **argv, ctr_comm *comm);

#endif /* DEMO_DEMO_H */
