// One instance of each of the 15 PDK45 cell types on three inputs (written for axdnn's tests).
// O[k] is the output of the k-th cell in the order of the README table; O[13..16] are the
// YS/YC outputs of HAX1 and FAX1.
module cells_all(A, B, O);
  input [2:0] A;
  input [0:0] B;
  output [16:0] O;
  AND2X1  c0 (.A(A[0]), .B(A[1]), .Y(O[0]));
  OR2X1   c1 (.A(A[0]), .B(A[1]), .Y(O[1]));
  NAND2X1 c2 (.A(A[0]), .B(A[1]), .Y(O[2]));
  NOR2X1  c3 (.A(A[0]), .B(A[1]), .Y(O[3]));
  XOR2X1  c4 (.A(A[0]), .B(A[1]), .Y(O[4]));
  XNOR2X1 c5 (.A(A[0]), .B(A[1]), .Y(O[5]));
  NAND3X1 c6 (.A(A[0]), .B(A[1]), .C(A[2]), .Y(O[6]));
  NOR3X1  c7 (.A(A[0]), .B(A[1]), .C(A[2]), .Y(O[7]));
  AOI21X1 c8 (.A(A[0]), .B(A[1]), .C(A[2]), .Y(O[8]));
  OAI21X1 c9 (.A(A[0]), .B(A[1]), .C(A[2]), .Y(O[9]));
  INVX1   c10(.A(A[0]), .Y(O[10]));
  BUFX2   c11(.A(A[0]), .Y(O[11]));
  MUX2X1  c12(.A(A[0]), .B(A[1]), .S(A[2]), .Y(O[12]));
  HAX1    c13(.A(A[0]), .B(A[1]), .YS(O[13]), .YC(O[14]));
  FAX1    c15(.A(A[0]), .B(A[1]), .C(A[2]), .YS(O[15]), .YC(O[16]));
endmodule
