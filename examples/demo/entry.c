/*
 * entry.c - contrastive-demo's entry point: the demo in one process
 * (main.c; the distributed build, contrastive-demo-mpi, has its own).
 */
#include "demo.h"

int main(int argc, char **argv)
{
    return demo_run(argc, argv, NULL);
}
