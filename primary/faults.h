/* SPDX-License-Identifier: BSD-3-Clause */
/* mpdp-primary: dead stages: detection and reclamation (private to this program). */
#ifndef MPDP_PRIMARY_FAULTS_H
#define MPDP_PRIMARY_FAULTS_H

#endif /* MPDP_PRIMARY_FAULTS_H */
