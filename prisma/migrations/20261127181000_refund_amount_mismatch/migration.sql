-- AlterEnum
ALTER TYPE "ReconciliationDifferenceKind" ADD VALUE 'REFUND_AMOUNT_MISMATCH';
